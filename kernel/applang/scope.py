"""Requests clearly outside what the app language can express, recognised before any model runs.

Why a keyword check: the embedded model is cheap to ask but poor at refusing, and a request for live
weather answered with a counter is the worst outcome. Each rule names a need in plain words; the
first match gives the reason the shell shows. The rules are deliberately narrow (a false refusal
costs the user a working app), and a negation just before the word ("without internet") cancels
the match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    reason: str


def _rule(words: str, reason: str) -> Rule:
    return Rule(re.compile(rf"\b(?:{words})\b", re.IGNORECASE), reason)


_NETWORK = "it needs data from the internet, and apps made on this device cannot use the network"
RULES: tuple[Rule, ...] = (
    _rule(r"weather|forecasts?|news|(?:latest|today'?s|top) headlines|stock (?:prices?|market|quotes?)"
          r"|crypto(?:currency)?|bitcoin|live (?:scores?|rates?|prices?|exchange rates?)"
          r"|current exchange rates?|sports scores",
          f"{_NETWORK} (live weather, news or prices)"),
    _rule(r"internet|online|browser|download|upload|rss|api"
          r"|(?:open|visit|load|fetch|check|read|browse) (?:a |the |my |this |some )?"
          r"(?:urls?|web ?pages?|websites?)"
          r"|youtube|twitter|facebook|instagram|reddit|wikipedia|search the web|google",
          _NETWORK),
    _rule(r"translat(?:e|es|ion|or)", "translating needs a language model or an online service, which "
                                      "apps made on this device cannot use"),
    _rule(r"e-?mails? (?:to|someone|people|my|him|her|them)|send (?:an? )?(?:e-?mails?|sms|texts?|messages?)"
          r"|sms (?:to|my|him|her|them)|whatsapp"
          r"|chat with|messenger", "it sends messages to other people, and apps cannot use the network"),
    _rule(r"camera|webcam|selfies?|take (?:a )?(?:photo|picture)s?|photos?|qr codes?|barcodes?|scan",
          "it needs the camera or photos, which apps cannot use"),
    _rule(r"microphone|record(?:ing|er)? (?:audio|voice|sound|my voice)|voice (?:memos?|notes?|recorder)"
          r"|speech|dictation|text to speech", "it needs the microphone or speech, which apps cannot use"),
    _rule(r"play (?:my |some |a |the )?(?:music|songs?|mp3s?|audio|sounds?|videos?|movies?)"
          r"|music (?:player|files)|podcasts?|radio|white noise|video player|watch videos?|stream(?:ing)?",
          "it plays audio or video, which apps cannot do"),
    _rule(r"open (?:a |my )?files?|files? (?:manager|browser)|pdfs?|import (?:a )?(?:csv|file)|export"
          r"|save (?:it )?to (?:a )?file|folders?|documents? editor|spreadsheets?",
          "it reads or writes files, and apps keep their data only in their own storage"),
    _rule(r"gps|my location|current location|maps?|driving directions|directions to|navigat(?:e|ion)|nearby",
          "it needs your location or maps, which apps cannot use"),
    _rule(r"(?:turn|switch) (?:on|off) (?:the |my )?(?:lights?|lamps?|heating|tv)"
          r"|smart (?:home|lights?|plugs?)|thermostat|bluetooth|wi-?fi|usb|printers?"
          r"|print(?:ing)? (?:it|a|the)|battery|screen brightness"
          r"|(?:sound|speaker) volume|shut ?down|install|terminal|run commands?",
          "it controls the device or the system, which apps cannot do"),
    _rule(r"my contacts|phone contacts|calendar sync|sync|log ?in|other users|multiplayer"
          r"|share with",
          "it needs other people's devices or accounts, which apps cannot reach"),
    _rule(r"chat ?bot|ai assistant|artificial intelligence|generate (?:images?|text|"
          r"stories|essays?)|write (?:me )?(?:an? )?(?:essay|story|poem)s?",
          "it needs a language model inside the app, which apps do not have"),
    _rule(r"charts?|graphs?", "it draws a chart, which the offline app language cannot express"),
    _rule(r"chess(?! clock)|tetris|snake game|(?<!ping )(?<!ping-)pong|platformer|shooter|3d|racing game"
          r"|minecraft|flappy|pac-?man|sudoku",
          "it is a game with moving graphics or complex rules, which the offline app language cannot "
          "express"),
)
_NEGATION = re.compile(r"\b(?:no|not|without|offline|never|nothing)\b(?:\W+\w+){0,2}\W*$", re.IGNORECASE)


def explain_unsupported(request: str) -> str | None:
    """A plain-words reason when `request` needs something no app made offline can do, else None."""
    for rule in RULES:
        for match in rule.pattern.finditer(request):
            if not _NEGATION.search(request[:match.start()]):
                return f"This app can't be made offline: {rule.reason}."
    return None
