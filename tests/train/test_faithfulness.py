"""`incls faithfulness`: the deletion it measures and the shape of what it reports (real model)."""

from __future__ import annotations

from incls.train.faithfulness import Reader, comprehensiveness, delete, ranked_units

from lsp_helpers import COMPLAINT_LETTER, core


def test_delete_removes_the_spans_and_keeps_the_rest():
    assert delete("One. Two. Three.", [(0, 4), (10, 16)]) == " Two. "


def test_the_top_unit_is_the_one_the_server_would_point_out_first_and_drops_are_reported():
    reader = Reader(core())
    report = reader.read(COMPLAINT_LETTER)
    order = ranked_units(report)
    ev = report.evidence
    assert sorted(order) == list(range(len(ev)))
    pulls = ev.pull
    k = report.labels.index(report.label)
    toward = [float(pulls[i, k] - pulls[i].mean()) for i in order]
    assert toward == sorted(toward, reverse=True)
    result = comprehensiveness(reader, [COMPLAINT_LETTER, "Too short."], [1, 3], draws=2, seed=0)
    assert result["k=1"]["documents"] == 1 and result["k=3"]["documents"] == 1  # one unit: left out
    top = reader.read(delete(COMPLAINT_LETTER, [(ev.starts[order[0]], ev.ends[order[0]])]))
    assert abs(result["k=1"]["top_k_drop"] - round(report.probabilities[k] - top.probabilities[k], 4)) < 1e-4
