"""`--method auto`'s judge: each candidate's held-out figure, the tie rule, the warning, the cache."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from curation.cache.calibrations import obtain_method_choice
from curation.calibration import fold_positions
from curation.method_choice import NO_SEPARATION, TIE, MethodChoice, choose, fold_figures, fold_similarities
from curation.scorers.base import unit_rows


def folds_of(rng, rows=30, folds=3):
    return fold_positions([f"{i:04x}" for i in rng.permutation(rows)], folds)


def test_embedding_wins_where_only_the_inputs_tell_the_target_apart():
    """Validation rows cluster apart from the reference; the loss drop saw nothing (equal drops)."""
    rng = np.random.default_rng(0)
    parts = folds_of(rng)
    validation = unit_rows(rng.normal(size=(30, 8)) + 4.0)
    reference = unit_rows(rng.normal(size=(60, 8)))
    drops = [{"held": [0.1] * len(p), "reference": [0.1] * 60} for p in parts]  # ties: auc − ½ = 0
    figures = fold_figures(drops, fold_similarities(validation, reference, parts))
    table, method, similarity = choose(figures, "max")
    assert method == "embedding" and similarity in ("max", "mean")
    by_name = {(row["method"], row["similarity"]): row for row in table}
    assert by_name[("lossdrop", "-")]["specificity"] == 0.0 and by_name[("lossdrop", "-")]["folds"] == [0.0] * 3
    assert by_name[("embedding", similarity)]["specificity"] > 0.4 and by_name[("embedding", similarity)]["chosen"]
    assert sum(row["chosen"] for row in table) == 1 and len(table) == 5


def test_the_loss_drop_wins_where_the_inputs_look_alike():
    rng = np.random.default_rng(1)
    parts = folds_of(rng)
    validation, reference = unit_rows(rng.normal(size=(30, 8))), unit_rows(rng.normal(size=(60, 8)))
    drops = [{"held": list(rng.uniform(0.5, 1.0, len(p))), "reference": list(rng.uniform(0, 0.5, 60))} for p in parts]
    table, method, similarity = choose(fold_figures(drops, fold_similarities(validation, reference, parts)), "mean")
    assert method == "lossdrop" and similarity == "mean"  # the run's --similarity, kept for the record
    chosen = next(row for row in table if row["chosen"])
    assert chosen["specificity"] == 0.5 and chosen["spread"] == 0.0  # every held-out row ahead on every fold


def test_ties_go_to_the_cheaper_method():
    figures = {
        ("lossdrop", "-"): [0.30, 0.30],
        ("embedding", "max"): [0.30 - TIE / 2] * 2,  # within TIE of the best: tied, and cheaper
        ("embedding", "mean"): [0.10, 0.10],
        ("blend", "max"): [0.30, 0.30],
    }
    assert choose(figures, "mean")[1:] == ("embedding", "max")
    figures[("embedding", "max")] = [0.30 - 2 * TIE] * 2  # beyond TIE: the loss drop, cheaper than the blend
    assert choose(figures, "mean")[1:] == ("lossdrop", "mean")


def test_the_choice_in_words_says_what_it_means_and_warns_near_chance():
    table, method, similarity = choose({("lossdrop", "-"): [0.30, 0.26], ("embedding", "max"): [0.0, 0.02]}, "max")
    choice = MethodChoice(method, similarity, table, folds=2)
    assert choice.separates and choice.outranks == 78.0
    words = choice.words()
    assert "method: lossdrop (auto, judged on 2 folds: cache miss)" in words
    assert "held-out target rows outrank 78% of pool rows" in words and "warning" not in words
    table, method, similarity = choose({("lossdrop", "-"): [0.05, 0.07], ("embedding", "max"): [0.0, 0.02]}, "max")
    near = MethodChoice(method, similarity, table, folds=2)
    assert not near.separates and near.words().splitlines()[-1] == NO_SEPARATION
    assert "close to random" in NO_SEPARATION


def test_a_choice_is_computed_once_and_a_damaged_entry_rebuilt(tmp_path):
    table, method, similarity = choose({("lossdrop", "-"): [0.3, 0.3], ("embedding", "max"): [0.1, 0.1]}, "max")
    calls = []

    def compute():
        calls.append(1)
        return MethodChoice(method, similarity, table, folds=2, forward_passes=90)

    first = obtain_method_choice(compute, str(tmp_path), "k1")
    again = obtain_method_choice(compute, str(tmp_path), "k1")
    assert (first.status, again.status, len(calls)) == ("miss", "hit", 1)
    assert again.as_dict() == first.as_dict() and again.method == "lossdrop"
    entry = tmp_path / "method-choice" / "k1" / "manifest.json"
    assert json.loads(entry.read_text())["facts"]["candidates"] == table
    entry.write_text('{"key": "k1", "facts": {"method": "lossdrop", "candidat')  # cut short
    rebuilt = obtain_method_choice(compute, str(tmp_path), "k1")
    assert rebuilt.status == "miss" and len(calls) == 2 and list((tmp_path / "damaged").iterdir())


def test_a_skipped_choice_is_the_loss_drop_and_says_why():
    choice = MethodChoice("lossdrop", "max", status="skipped")
    assert choice.words() == "method: lossdrop (auto: too few validation rows to judge on folds)"
    assert choice.outranks is None and not choice.separates


def test_an_edited_choice_entry_is_verified_set_aside_and_rebuilt(tmp_path):
    """Finding 14: a stored choice is one of its candidates and the one its own table chooses."""
    table, method, similarity = choose({("lossdrop", "-"): [0.3, 0.3], ("embedding", "max"): [0.1, 0.1]}, "max")
    calls = []

    def compute():
        calls.append(1)
        return MethodChoice(method, similarity, table, folds=2, forward_passes=90)

    obtain_method_choice(compute, str(tmp_path), "k1")
    entry = tmp_path / "method-choice" / "k1" / "manifest.json"
    manifest = json.loads(entry.read_text())
    stored = manifest["facts"]
    for edit in (
        {"method": "gradcos"},  # a method auto never picks
        {"method": "blend"},  # the top level disagrees with the table
        {"candidates": [dict(row, chosen=not row["chosen"]) for row in stored["candidates"]]},
        {
            "candidates": [
                dict(row, specificity=0.9 if row["method"] == "embedding" else row["specificity"])
                for row in stored["candidates"]
            ]
        },  # fmt: skip
    ):
        facts = {**stored, **edit}  # an edit that keeps the manifest's own digest right: the value itself is checked
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
        entry.write_text(json.dumps({**manifest, "facts": facts, "facts_sha256": digest}))
        rebuilt = obtain_method_choice(compute, str(tmp_path), "k1")
        assert rebuilt.status == "miss" and rebuilt.method == "lossdrop"
    assert len(calls) == 5 and list((tmp_path / "damaged").rglob("manifest.json"))
    assert obtain_method_choice(compute, str(tmp_path), "k1").status == "hit"


def test_after_a_rule_out_every_candidate_is_judged_on_the_same_folds():
    """Embedding ruled the loss drop out after the first fold: embedding is then judged on that fold too, not
    on all three against the others' one (its later folds could be far weaker, as a hostile run found)."""
    rng = np.random.default_rng(2)
    parts = folds_of(rng)
    validation, reference = unit_rows(rng.normal(size=(30, 8))), unit_rows(rng.normal(size=(60, 8)))
    drops = [{"held": list(rng.uniform(0.5, 1.0, len(parts[0]))), "reference": list(rng.uniform(0, 0.5, 60))}]
    figures = fold_figures(drops, fold_similarities(validation, reference, parts))
    assert {len(values) for values in figures.values()} == {1} and len(figures) == 5
    table, method, _ = choose(figures, "max")
    assert method == "lossdrop" and all(len(row["folds"]) == 1 for row in table)
