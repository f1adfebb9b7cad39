"""Safe self-update for appliances: signed bundles, A/B root slots, systemd-boot boot counting.

A library with no opinion on where things live: slot devices, the ESP and the state file are passed in
as paths, so the image layout and the boot chain can adopt it without this package changing.
"""
