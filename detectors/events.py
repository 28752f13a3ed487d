"""The kernels' event rows: which column of `ev_i` / `ev_f` holds what.

Kept apart from detectors.kernels so that the engine and the explanations can read events
without importing numba (a detector process starts without it when the kernels are compiled
ahead of time, detectors.aot).
"""

from __future__ import annotations

# Event layout: ints and floats per event.
EV_ROW = 0  # batch row of the triggering reading; -1 for time-driven events
EV_SLOT = 1
EV_KIND = 2
EV_ACTION = 3  # RAISE or CLEAR
EV_RULE = 4
NEVI = 5
EV_TS = 0  # when the condition began (device time, or the deadline for silences)
EV_SCORE = 1  # how far past its threshold the rule is (1.0 = at the threshold)
EV_SMOKE = 2  # smoke excess over baseline, %/m
EV_BASE = 3  # smoke baseline, %/m
EV_TRISE = 4  # temperature rise over baseline, °C
EV_ROR = 5  # rate of rise, °C/min
EV_CO = 6  # CO excess over baseline, ppm
EV_SINCE = 7  # start of the evidence window (pre-alarm run, silence start)
NEVF = 8

# A reading raises and clears at most this many events; the batch loop stops short of overflow.
MAX_EVENTS_PER_READING = 8
