"""The rate ``RateLimiter(learn=True)`` (``--workers auto``) learned from 429s.

A 429 may mean "you are over my limit" or "I had a bad moment": a proxy or a
busy server answers some 429s whatever the rate. Only the first teaches a
rate; taking the second for a limit lowers the rate at every 429, for good,
and the run crawls. So a cut that teaches is put on trial: it takes at least
``LEARN_CUT`` off and holds that rate for a while (the trial: ``PROVE_S``
seconds after ``CUT_WINDOW_S``, or as many answers as would hold
``PROVE_429S`` 429s at the share that drew the cut, if that is longer). If
429s come at the lower rate about as often as before (``UNTIE_RATIO`` of that
share or more), the cut was not deep enough or the 429s are not the rate's;
after ``TRIALS_TO_UNTIE`` such cuts in a row they are taken as not the rate's:
the cuts are undone, and until ``BACKGROUND_S`` pass without a 429 each one
only dips the rate as the default limiter does (the share of recent answers
refused, at most half, back in ``recovery_s``). Only a share of ``TIED_SHARE``
or more of the last answers refused teaches again then. When the 429s stop
during the trial, the server took the lower rate: a limit of its.

Nor does a 429 teach before ``WINDOW`` answers have come: one of the first
five answers is too little to learn a rate from (it dips the rate instead).

After its trial the learned rate climbs by ``PROBE_PER_S`` of itself each
second (additive increase), and after ``QUIET_S`` more by ``FAST_PER_S`` a
second, compounded (a multiplicative probe, as TCP's slow start after an idle
spell), up to the configured rate if any: a limit that was lifted, or a cut
drawn by a fluke, is soon outgrown. Called under the limiter's lock; no clock
of its own.
"""

from __future__ import annotations

LEARN_CUT = 0.1  # the least share of the rate a cut that teaches takes off ...
PROBE_PER_S = 0.02  # ... and the share of the learned rate it climbs by each second
QUIET_S = 5.0  # after this long climbing without a 429 that taught ...
FAST_PER_S = 0.1  # ... the learned rate grows by this share of itself each second
CUT_WINDOW_S = 1.0  # 429s this soon after a cut are answers to requests sent before it
PROVE_S = 2.0  # a cut that taught is on trial this long after that window ...
PROVE_429S = 3  # ... or for as many answers as would bring this many 429s at random
MAX_PROVE_ANSWERS, MAX_PROVE_S = 150, 10.0  # (at most this many, nor longer than this)
UNTIE_RATIO = 0.5  # 429s during a trial at this share of the one that drew the cut fail it
TRIALS_TO_UNTIE = 2  # failed trials in a row that show 429s not tied to the rate
BACKGROUND_S = 30.0  # 429s found untied to the rate are taken as such until this long without one
TIED_SHARE = 0.2  # ... unless this share of the last WINDOW answers are 429s
WINDOW = 50  # answers: a share of 429s is taken over at least this many


class LearnedRate:
    """The learned rate (a ceiling that climbs) and, under it, a dip after a background 429."""

    def __init__(self, target: float | None, floor: float, recovery_s: float) -> None:
        self._target = target
        self._floor = floor
        self._recovery_s = recovery_s
        self._learned: float | None = None  # the learned rate (None: none yet) ...
        self._climb_from = 0.0  # ... which climbs from then on
        # a dip: dip_rate + dip_slope * (now - dip_at), until it is back to dip_to
        self._dip: tuple[float, float, float, float] | None = None
        self._on_trial = False  # the last cut taught, and no 429 has confirmed or untied it
        self._trial_from = float("-inf")  # ... its trial: from then
        self._share_at_cut = 0.0  # the share of 429s that drew it
        self._failed_trials = 0  # trials in a row that 429s went on through
        self._before: float | None = None  # the learned rate before them (restored if untied)
        self._background_until = float("-inf")
        self.cuts_taught = 0  # for a debugger or a simulation: cuts that taught ...
        self.cuts_untied = 0  # ... and those undone on trial

    def background(self, now: float) -> bool:
        """Whether 429s are taken now as coming whatever the rate (see the module docstring)."""
        return now < self._background_until

    def ceiling(self, now: float) -> float | None:
        """The learned rate now (at most the configured one); None when unlimited."""
        if self._learned is None:
            return self._target
        elapsed = max(0.0, now - self._climb_from)
        rate = self._learned * (1.0 + PROBE_PER_S * min(elapsed, QUIET_S))
        if elapsed > QUIET_S:
            rate *= (1.0 + FAST_PER_S) ** min(elapsed - QUIET_S, 600.0)
        return rate if self._target is None else min(rate, self._target)

    def rate_at(self, now: float) -> float | None:
        ceiling = self.ceiling(now)
        if self._dip is None:
            return ceiling
        rate, at, slope, to = self._dip
        dipped = rate + slope * max(0.0, now - at)
        if dipped >= to or (ceiling is not None and dipped >= ceiling):
            self._dip = None
            return ceiling
        return dipped

    def on_429(
        self, now: float, *, sent: float, took: float, refused: tuple[int, int],
        since: tuple[int, int], resume_at: float,
    ) -> None:  # fmt: skip
        """A 429 outside the window of the last cut: teach, or dip; see the module docstring.

        ``sent``: the rate in force (or, when unlimited, what we send): a dip
        cuts from it; ``took``: what we send, at most what the server took: a
        cut that teaches starts from it (a burst it let through is no rate it
        keeps); ``refused``: the last answers (up to ``WINDOW``) and the 429s
        among them; ``since``: the same since the last cut.
        """
        window, refusals = refused
        share, share_of_window = refusals / max(window, 1), refusals / WINDOW
        answers, throttled = since
        since_share = throttled / answers if answers else 0.0  # this 429 and any since the cut
        few = share_of_window < TIED_SHARE  # many more: over a limit, whatever else
        if window < WINDOW:
            return self._dip_from(now, sent, share)  # too few answers yet to learn from
        if now < self._background_until:
            self._background_until = now + BACKGROUND_S
            if few:
                return self._dip_from(now, sent, share)
            self._background_until = float("-inf")  # refused in bulk: a limit after all
        elif self._on_trial and now <= self._climb_from:
            # 429s at the lower rate about as often as at the old one
            self._failed_trials += since_share >= UNTIE_RATIO * self._share_at_cut
            if self._failed_trials >= TRIALS_TO_UNTIE and few:
                return self._untie(now, sent, share)
            share = max(share, since_share)  # fewer 429s, but still some: cut deeper
        else:  # no 429 came while the last cut was on trial: a new chain of cuts
            self._before = self.ceiling(now)
            self._failed_trials = 0
        self._teach(took, share, share_of_window, resume_at)

    def _untie(self, now: float, base: float, share: float) -> None:
        self.cuts_untied += 1
        self._learned, self._climb_from = self._before, now
        if self._before is not None and self._before == self._target:
            self._learned = None  # the configured rate: nothing learned
        self._on_trial = False
        self._background_until = now + BACKGROUND_S
        self._dip_from(now, base, share)

    def _teach(self, base: float, share: float, share_of_window: float, resume_at: float) -> None:
        self.cuts_taught += 1
        self._share_at_cut = share_of_window
        self._learned = max(self._floor, base * min(1.0 - LEARN_CUT, max(0.5, 1.0 - share)))
        self._dip = None
        self._on_trial = True
        expected = PROVE_429S / share_of_window if share_of_window > 0 else MAX_PROVE_ANSWERS
        trial_s = min(max(PROVE_S, min(expected, MAX_PROVE_ANSWERS) / self._learned), MAX_PROVE_S)
        self._climb_from = resume_at + CUT_WINDOW_S + trial_s  # the rate holds until then

    def _dip_from(self, now: float, base: float, refused: float) -> None:
        """As the default limiter's cut: the share refused off, at most half, back in recovery_s.

        The learned rate goes on climbing above it: a 429 that taught nothing
        starts no new quiet spell.
        """
        rate = max(self._floor, base * max(0.5, 1.0 - refused))
        self._dip = (rate, now, base / 2 / self._recovery_s, max(base, rate))
