"""The app flow: a prompt (or a saved app) to a running app, asking the user on the way.

- pipeline.py: `AppFlow`, the steps (cache lookup, generation, analysis, repair, policy, approval,
  save, launch) as an async stream of events;
- events.py: the one event shape, which the kernel's API sends and `--json` prints, and `outcome`;
- sessions.py: the kernel's running flows, whose questions are answered over its socket;
- client.py: the terminal's side (`llmos app new|run|regenerate`), in the kernel or in-process.
"""

from llmos.api import Ask, Launched, Offer

from .events import Event, Events, outcome
from .pipeline import MAX_PROMPT_CHARS, AppFlow, Decisions, Generator, check_prompt, default_launcher

__all__ = ["MAX_PROMPT_CHARS", "AppFlow", "Ask", "Decisions", "Event", "Events", "Generator", "Launched",
           "Offer", "check_prompt", "default_launcher", "outcome"]
