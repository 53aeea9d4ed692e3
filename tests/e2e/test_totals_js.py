"""The totals a slider shows at once are computed in the page (`geoviz.app.cards.totals_js`); they must be the
server's `totals_html` of `combine`, digit for digit, or the cards would flicker between two answers."""

import json
import random

import pytest

import geoviz.app.cards as cards
from geoviz.app.labels import WEIGHT_TERMS
from geoviz.app.state import Session
from geoviz.engine.evaluate import Report
from geoviz.engine.terms import FAMILIES, REGISTRY, TermResult


def synthetic_report(rng: random.Random, predictions: list[str]) -> Report:
    """Random values over every term, some skipped, some negative or huge."""
    results = {}
    for p in predictions:
        res = {}
        for t in REGISTRY:
            kind = rng.random()
            if kind < 0.15:
                res[t] = TermResult(None, skipped="no depth")
            else:
                res[t] = TermResult(rng.uniform(-0.5, 3.0) * 10 ** rng.randint(-6, 3))
        results[p] = res
    return Report(sample_name="s", predictions=predictions, terms=list(REGISTRY), results=results, params={},
                  image_size=(64, 64), latent_size=(8, 8), encoder="proxy", latent_sources={}, device="cpu")


def cases(n: int):
    rng = random.Random(5)
    names = [["step_0500", "step_1000", "step_3000"], ["1000", "200", "30"], ['<b>&"x', "a'b"], ["only"]]
    for i in range(n):
        report = synthetic_report(rng, names[i % len(names)])
        weights = {t: rng.choice([0.0, 1.0, round(rng.uniform(0, 5), 2)]) for t in WEIGHT_TERMS}
        scale = {f: rng.choice([1.0, 0.0, round(rng.uniform(0, 3), 2)]) for f in FAMILIES}
        session = Session(sample=None, report=report, params={}, weights=weights, family_scale=scale)
        c = session.combined()
        summary = json.loads(json.dumps(cards.report_summary(session, c)))  # as the page receives it
        args = [summary, "<div>before</div>", *[weights[t] for t in WEIGHT_TERMS], *[scale[f] for f in FAMILIES]]
        yield args, cards.totals_html(session, c)


@pytest.fixture
def blank(browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    yield page
    ctx.close()


def test_page_totals_equal_the_servers(blank):
    data = list(cases(200))
    got = blank.evaluate(f"(all) => all.map((args) => ({cards.totals_js()})(...args))", [a for a, _ in data])
    mismatches = [(want, g) for (_, want), g in zip(data, got) if g != want]
    assert not mismatches, mismatches[:3]
    assert any("total-card best" in w for _, w in data)


def test_nothing_loaded_keeps_what_is_shown(blank):
    js = cards.totals_js()
    weights = [1.0] * (len(WEIGHT_TERMS) + len(FAMILIES))
    for summary in (None, {}, {"values": {}, "predictions": []}):
        assert blank.evaluate(f"(args) => ({js})(...args)", [summary, "<div>kept</div>", *weights]) == "<div>kept</div>"
