"""gradlab.diagnose_groups from numpy arrays: each named pattern recovered from synthetic
groups, the JSON's keys, bad input, and the command line's output for the same files."""

import json
import subprocess

import numpy as np
import pytest

import gradlab
from conftest import microbatch_items, synthetic_groups

# 16 groups of 1 to 5 samples in micro-batches of 3, 5 and 8 groups.
COUNTS = [1 + (j * 7) % 5 for j in range(16)]
MICROBATCHES = [3, 5, 8]
N = sum(COUNTS)
OF, ITEMS = microbatch_items(COUNTS, MICROBATCHES)
K = len(MICROBATCHES)
G = synthetic_groups(COUNTS, p=800, seed=7)

# (expected cause or None for correct, each group's weight, keyword arguments)
CASES = {
    "correct": (None, [1 / N] * 16, {}),
    "sum_instead_of_mean": ("sum_instead_of_mean", [1.0] * 16, {}),
    "mean_of_microbatch_means": ("mean_of_microbatch_means", [1 / (K * ITEMS[OF[j]]) for j in range(16)], {}),
    "sum_of_microbatch_means": ("sum_of_microbatch_means", [1 / ITEMS[OF[j]] for j in range(16)], {}),
    "per_microbatch_token_mean": (
        "per_microbatch_token_mean",
        [1 / (K * ITEMS[OF[j]]) for j in range(16)],
        {"unit": "tokens"},
    ),
    "wrong_sign": ("wrong_sign", [-1 / N] * 16, {}),
    "accumulated_over_steps": ("accumulated_over_steps", [5 / N] * 16, {}),
}


def weighted(weights, groups=G):
    return np.asarray(weights) @ groups


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_each_pattern_is_named(name, dtype):
    cause, weights, kwargs = CASES[name]
    g = weighted(weights)
    if dtype == "f32":
        g = g.astype(np.float32)
    d = gradlab.diagnose_groups(g, G, COUNTS, microbatches=MICROBATCHES, dtype=dtype, **kwargs)
    if cause is None:
        assert (d.verdict, d.causes) == ("correct", []), str(d)
    else:
        assert d.verdict == "wrong", str(d)
        assert d.causes[0] == cause, str(d)
    # The recovered weights are the evidence: within rounding of the ones used.
    rel = np.abs(np.array(d.weights["recovered"]) - weights) / np.abs(weights)
    assert rel.max() < (1e-9 if dtype == "f64" else 1e-3), rel.max()


def test_microbatch_sizes_and_the_worst_group_are_reported():
    _, weights, _ = CASES["mean_of_microbatch_means"]
    d = gradlab.diagnose_groups(weighted(weights), G, COUNTS, microbatches=MICROBATCHES)
    assert d.microbatch_sizes == ITEMS
    # The smallest micro-batch's groups are weighted furthest from the correct weight.
    assert ITEMS[OF[d.worst["group"]]] == min(ITEMS)
    assert d.factor == pytest.approx(np.dot(weighted(weights), weighted(CASES["correct"][1])) / np.sum(weighted(CASES["correct"][1]) ** 2))


def test_equal_microbatches_make_the_mean_of_means_correct():
    counts = [2] * 12
    groups = synthetic_groups(counts, p=300, seed=3)
    g = np.full(12, 1 / (3 * 8)) @ groups  # 3 micro-batches of 8 samples: each mean / 3
    d = gradlab.diagnose_groups(g, groups, counts, microbatches=[4, 4, 4])
    assert d.verdict == "correct"


def test_a_scaled_gradient_gives_its_factor():
    d = gradlab.diagnose_groups(weighted([0.6 / N] * 16), G, COUNTS, microbatches=MICROBATCHES)
    assert d.causes[0] == "scaled" and d.factor == pytest.approx(0.6, rel=1e-9)


def test_sequences_meant_as_tokens():
    counts = [1, 2, 1, 2, 5, 6, 5, 6, 12, 11, 12, 10]
    groups = synthetic_groups(counts, p=400, seed=11)
    seq_mean = np.array([1 / (12 * c) for c in counts]) @ groups
    d = gradlab.diagnose_groups(seq_mean, groups, counts, unit="tokens")
    assert d.causes[0] == "sequence_mean_instead_of_token_mean"
    d = gradlab.diagnose_groups(seq_mean, groups, counts, unit="tokens", reduction="sequence-mean")
    assert d.verdict == "correct"


def test_the_json_has_the_command_lines_keys():
    _, weights, _ = CASES["mean_of_microbatch_means"]
    d = gradlab.diagnose_groups(weighted(weights), G, COUNTS, microbatches=MICROBATCHES)
    data = json.loads(d.to_json())
    for key in ("verdict", "causes", "factor", "relerr", "microbatch_sizes", "worst", "weights"):
        assert key in data, key
        assert getattr(d, key) == data[key]
    assert set(data["weights"]) == {"recovered", "correct", "expected"}
    assert d.to_dict() == data
    assert str(d).startswith("gradlab diagnose: groups=16 ")
    assert "mean_of_microbatch_means" in repr(d) and len(repr(d)) < 200
    # Keys the JSON leaves out read as None.
    assert gradlab.diagnose_groups(weighted(CASES["correct"][1]), G, COUNTS).reason is None


def test_a_non_contiguous_groups_array_gives_the_same_diagnosis():
    g = weighted(CASES["sum_instead_of_mean"][1])
    plain = gradlab.diagnose_groups(g, G, COUNTS)
    assert gradlab.diagnose_groups(g, np.asfortranarray(G), COUNTS) == plain
    wide = np.zeros((16, 2 * G.shape[1]))
    wide[:, ::2] = G
    assert gradlab.diagnose_groups(g, wide[:, ::2], COUNTS) == plain


@pytest.mark.parametrize(
    "kwargs, sentence",
    [
        ({"counts": COUNTS[:-1]}, "15 counts were given for 16 groups"),
        ({"counts": [0] + COUNTS[1:]}, "count"),
        ({"counts": [-1] + COUNTS[1:]}, "counts holds the count -1; expected whole numbers of items, 1 or more"),
        ({"microbatches": [3, 5]}, "hold 8 groups in all"),
        ({"dtype": "f99"}, 'invalid dtype "f99"'),
        ({"unit": "words"}, 'invalid --unit "words"'),
        ({"reduction": "median"}, 'invalid --reduction "median"'),
        ({"tolerance": 2.0}, "tolerance"),
        ({"g": np.ones(5)}, "expected 5, the gradient's size"),
        ({"g": np.full(800, np.nan)}, "finite"),
        ({"groups": G[0]}, "groups has shape [800]; expected (J, P)"),
    ],
)
def test_bad_input_is_a_value_error_with_one_sentence(kwargs, sentence):
    args = {"g": weighted(CASES["correct"][1]), "groups": G, "counts": COUNTS}
    args.update(kwargs)
    g, groups, counts = args.pop("g"), args.pop("groups"), args.pop("counts")
    with pytest.raises(ValueError) as e:
        gradlab.diagnose_groups(g, groups, counts, **args)
    assert sentence in str(e.value)
    assert "\n" not in str(e.value)


def test_wrong_dtypes_are_type_errors():
    g = weighted(CASES["correct"][1])
    with pytest.raises(TypeError, match="groups is a numpy array of dtype float32; expected a float64"):
        gradlab.diagnose_groups(g, G.astype(np.float32), COUNTS)
    with pytest.raises(TypeError, match="g is a list"):
        gradlab.diagnose_groups(list(g), G, COUNTS)


@pytest.mark.parametrize("name", ["correct", "mean_of_microbatch_means", "per_microbatch_token_mean"])
def test_json_and_text_are_the_command_lines(cli, tmp_path, name):
    _, weights, kwargs = CASES[name]
    g = weighted(weights).astype(np.float32)
    np.save(tmp_path / "g.npy", g)
    np.save(tmp_path / "G.npy", G)
    d = gradlab.diagnose_groups(g, G, COUNTS, microbatches=MICROBATCHES, dtype="f32", **kwargs)
    base = [
        str(cli),
        "diagnose",
        "--grad",
        str(tmp_path / "g.npy"),
        "--groups",
        str(tmp_path / "G.npy"),
        "--counts",
        ",".join(map(str, COUNTS)),
        "--microbatches",
        ",".join(map(str, MICROBATCHES)),
    ] + [f"--{k}={v}" for k, v in kwargs.items()]
    out = subprocess.run(base + ["--format", "json"], capture_output=True, text=True)
    assert out.returncode in (0, 3, 4), out.stderr
    assert out.stdout == d.to_json()
    out = subprocess.run(base, capture_output=True, text=True)
    assert out.stdout == str(d)


def test_concurrent_calls_agree():
    # Two threads diagnosing at once (the GIL is released during the core's work) agree.
    import threading

    g = weighted(CASES["sum_of_microbatch_means"][1])
    results = []

    def work():
        results.append(gradlab.diagnose_groups(g, G, COUNTS, microbatches=MICROBATCHES))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1] and results[0].causes[0] == "sum_of_microbatch_means"
