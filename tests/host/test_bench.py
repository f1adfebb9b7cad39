"""`llmos bench boot`'s breakdown: each service's start and readiness read from PID 1's console lines."""

from __future__ import annotations

from llmos.host.bench import BootTimes, ServiceTimes, breakdown, service_times

SEEN = [
    (8.0, "llmos: pid1 start t=5.000"),
    (8.5, "llmos: udevd: started pid 101"),
    (8.6, "llmos: hal: started pid 102"),
    (9.0, "llmos: service udevd ready t=6.000"),
    (12.0, "llmos: service hal ready t=9.000"),
    (12.1, "llmos: compositor: started pid 103"),
    (13.0, "llmos: hal: started pid 104"),  # a restart: the first start counts
    (20.0, "llmos: service compositor ready t=17.000"),
    (21.0, "llmos: kernel: started pid 105"),
]


def test_each_service_keeps_its_first_start_and_its_readiness_in_start_order() -> None:
    assert service_times(SEEN) == (ServiceTimes("udevd", 8.5, 9.0), ServiceTimes("hal", 8.6, 12.0),
                                   ServiceTimes("compositor", 12.1, 20.0), ServiceTimes("kernel", 21.0, None))


def test_the_breakdown_counts_from_pid1_and_marks_what_never_got_ready() -> None:
    times = BootTimes(kernel=2.0, stage1=6.0, pid1=8.0, ready=30.0, guest_pid1_to_ready=22.0, shell=18.0,
                      guest_shell=15.0, services=service_times(SEEN), apps=31.5)
    rows = {line.split()[0]: line.split()[1:] for line in breakdown(times).splitlines()[2:]}
    assert rows["hal"] == ["0.60", "4.00", "3.40"]
    assert rows["compositor"] == ["4.10", "12.00", "7.90"]
    assert rows["kernel"] == ["13.00", "-", "-"]
    assert rows["shell"] == ["visible", "10.00"]
    assert rows["apps"] == ["ready", "23.50"]  # the kernel's zygote loaded: apps open at full speed
