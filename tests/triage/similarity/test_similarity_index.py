"""Vector indexes of the similarity layer: exact numpy search, the usearch HNSW index, and the index that
moves from one to the other at a size threshold.

Data is random: unit vectors, clustered (random centres plus noise) where recall is measured, as real
complaint embeddings are clustered.
"""

from __future__ import annotations

import numpy as np
import pytest

from triage.similarity.index import (
    AnnIndex,
    AutoIndex,
    ExactIndex,
    VectorIndex,
    load_index,
)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(rng: np.random.Generator, n: int, d: int, centres: int, noise: float = 1.0) -> np.ndarray:
    c = _unit(rng, centres, d)
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute(live: dict[int, np.ndarray], queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter(live, dtype=np.int64, count=len(live))
    mat = np.stack([live[i] for i in ids.tolist()])
    sims = queries @ mat.T
    order = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, order, axis=1), ids[order]


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(g.tolist()) & set(t.tolist())) / k for g, t in zip(got, truth, strict=True)]))


# --- exact ---------------------------------------------------------------------------------------------


def test_exact_matches_brute_force():
    rng = np.random.default_rng(0)
    x, q = _unit(rng, 2000, 64), _unit(rng, 25, 64)
    index = ExactIndex(64)
    for start in range(0, 2000, 300):  # batched adds, crossing the initial capacity
        index.add(np.arange(start, min(2000, start + 300)), x[start : start + 300])
    sims, ids = index.search(q, 10)
    want_sims, want_ids = _brute(dict(enumerate(x)), q, 10)
    assert sims.shape == ids.shape == (25, 10)
    assert sims.dtype == np.float32 and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 0)  # best first


def test_exact_after_removals_and_readds():
    rng = np.random.default_rng(1)
    d = 32
    x = _unit(rng, 1500, d)
    index = ExactIndex(d)
    index.add(np.arange(1500), x)
    live = dict(enumerate(x))
    gone = rng.choice(1500, 600, replace=False)
    assert index.remove(gone) == 600
    for i in gone.tolist():
        del live[i]
    back = gone[:200]  # re-added with new vectors
    fresh = np.arange(5000, 5300)
    new_vectors = _unit(rng, 500, d)
    index.add(np.concatenate([back, fresh]), new_vectors)
    live.update(zip(np.concatenate([back, fresh]).tolist(), new_vectors, strict=True))
    changed = np.array(sorted(live)[:10])  # upsert of present ids replaces their vectors
    changed_vectors = _unit(rng, 10, d)
    index.add(changed, changed_vectors)
    live.update(zip(changed.tolist(), changed_vectors, strict=True))

    assert len(index) == len(live) == 1400
    assert all(i in index for i in live)
    assert gone[300] not in index and 5000 in index and np.int64(5001) in index
    assert "7" not in index and -1 not in index

    q = np.concatenate([_unit(rng, 20, d), changed_vectors[:3]])
    sims, ids = index.search(q, 7)
    want_sims, want_ids = _brute(live, q, 7)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    np.testing.assert_array_equal(ids[-3:, 0], changed[:3])
    assert set(index.ids().tolist()) == set(live)


def test_exact_single_vector_query_and_bad_input():
    rng = np.random.default_rng(2)
    x = _unit(rng, 50, 8)
    index = ExactIndex(8)
    index.add(np.arange(50), x)
    _sims, ids = index.search(x[7], 3)  # a 1-D query is one row
    assert ids.shape == (1, 3) and ids[0, 0] == 7
    with pytest.raises(ValueError, match="more than once"):
        index.add([1, 1], x[:2])
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1], x[:1])
    with pytest.raises(ValueError, match="shape"):
        index.add([100], np.ones((1, 9), np.float32))
    with pytest.raises(ValueError, match="ids for"):
        index.add([100, 101], x[:1])
    with pytest.raises(ValueError, match="k must"):
        index.search(x[:1], 0)


# --- shared behaviour: padding, unknown removal, upsert ------------------------------------------------


@pytest.fixture(params=["exact", "ann", "auto"])
def make_index(request):
    def make(dim: int):
        if request.param == "exact":
            return ExactIndex(dim)
        if request.param == "ann":
            return AnnIndex(dim)
        return AutoIndex(dim, threshold=3)  # 5 entries: already approximate

    return make


def test_conforms_to_protocol(make_index):
    assert isinstance(make_index(8), VectorIndex)


def test_padding_when_fewer_than_k(make_index):
    rng = np.random.default_rng(3)
    index = make_index(16)
    sims, ids = index.search(_unit(rng, 2, 16), 4)  # empty
    assert ids.shape == (2, 4) and (ids == -1).all() and np.isneginf(sims).all()
    x = _unit(rng, 5, 16)
    index.add(np.arange(10, 15), x)
    sims, ids = index.search(x[:2], 8)
    assert ids.shape == sims.shape == (2, 8)
    assert (ids[:, 5:] == -1).all() and np.isneginf(sims[:, 5:]).all()
    assert set(ids[0, :5].tolist()) == set(range(10, 15))
    assert ids[0, 0] == 10 and sims[0, 0] == pytest.approx(1.0, abs=1e-2)
    assert np.isfinite(sims[:, :5]).all()


def test_remove_of_unknown_id_is_a_noop(make_index):
    rng = np.random.default_rng(4)
    index = make_index(16)
    x = _unit(rng, 5, 16)
    index.add(np.arange(5), x)
    before = index.search(x, 3)
    assert index.remove([99, 12345]) == 0
    assert index.remove([]) == 0
    assert len(index) == 5
    after = index.search(x, 3)
    np.testing.assert_array_equal(before[1], after[1])
    assert index.remove([2, 2, 99]) == 1  # a repeated id counts once
    assert len(index) == 4 and 2 not in index
    assert 2 not in index.search(x, 5)[1]


def test_add_of_present_id_replaces_its_vector(make_index):
    rng = np.random.default_rng(5)
    index = make_index(16)
    x = _unit(rng, 6, 16)
    index.add(np.arange(6), x)
    index.add([3], -x[3:4])  # now the opposite of its old vector
    assert len(index) == 6
    sims, ids = index.search(x[3:4], 6)
    assert ids[0, -1] == 3 and sims[0, -1] == pytest.approx(-1.0, abs=1e-2)


# --- approximate ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clustered_20k():
    rng = np.random.default_rng(6)
    data = _clustered(rng, 20_000 + 200, 512, centres=1000)
    x, q = data[:20_000], data[20_000:]
    index = AnnIndex(512)
    index.add(np.arange(20_000), x)
    return x, q, index


def test_ann_recall_at_10_on_clustered_20k(clustered_20k):
    x, q, index = clustered_20k
    want_sims, want_ids = _brute(dict(enumerate(x)), q, 10)
    sims, ids = index.search(q, 10)
    assert _recall(ids, want_ids) >= 0.95
    # bfloat16 storage: similarities within a few thousandths of the exact ones
    hit = ids[:, 0] == want_ids[:, 0]
    np.testing.assert_allclose(sims[hit, 0], want_sims[hit, 0], atol=5e-3)
    # one query at a time gives the same answers as the batch
    _one_sims, one_ids = index.search(q[:1], 10)
    np.testing.assert_array_equal(one_ids[0], ids[0])


def test_ann_save_load_round_trip(clustered_20k, tmp_path):
    _x, q, index = clustered_20k
    before = index.search(q, 10)
    index.save(tmp_path / "ann")
    loaded = AnnIndex.load(tmp_path / "ann")
    assert len(loaded) == len(index) and loaded.options == index.options
    after = loaded.search(q, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])


def test_ann_removed_ids_are_not_returned_and_survive_save(tmp_path):
    rng = np.random.default_rng(7)
    x = _clustered(rng, 3000, 32, centres=100)
    index = AnnIndex(32, threads=1)  # single-threaded build: deterministic graph
    index.add(np.arange(3000), x)
    gone = np.arange(0, 3000, 2)
    assert index.remove(gone) == 1500
    assert len(index) == 1500 and 0 not in index and 1 in index
    _sims, ids = index.search(x[:100], 10)
    assert not np.isin(ids, gone).any()
    want_ids = _brute({i: x[i] for i in range(1, 3000, 2)}, x[:100], 10)[1]
    assert _recall(ids, want_ids) >= 0.95
    index.save(tmp_path / "ann")
    loaded = load_index(tmp_path / "ann")
    assert isinstance(loaded, AnnIndex) and len(loaded) == 1500 and 0 not in loaded
    np.testing.assert_array_equal(loaded.search(x[:100], 10)[1], ids)


def test_capacity_bounded_under_churn():
    rng = np.random.default_rng(8)
    n, d = 4000, 32
    exact, ann = ExactIndex(d), AnnIndex(d, threads=1)  # single-threaded build: deterministic graph
    x = _clustered(rng, n, d, centres=200)
    exact.add(np.arange(n), x)
    ann.add(np.arange(n), x)
    exact_cap, ann_cap, ann_mem = exact.capacity, ann.capacity, ann.memory_usage
    oldest, next_id = 0, n
    for _ in range(5):  # the window slides: drop the oldest half, add as many new entries
        gone = np.arange(oldest, oldest + n // 2)
        oldest += n // 2
        assert exact.remove(gone) == ann.remove(gone) == n // 2
        new = np.arange(next_id, next_id + n // 2)
        next_id += n // 2
        v = _clustered(rng, n // 2, d, centres=200)
        exact.add(new, v)
        ann.add(new, v)
        assert len(exact) == len(ann) == n
        assert exact.capacity == exact_cap
        assert ann.capacity == ann_cap
        assert ann.memory_usage <= 1.1 * ann_mem
    q = _unit(rng, 50, d)
    assert _recall(ann.search(q, 10)[1], exact.search(q, 10)[1]) >= 0.9


def test_exact_capacity_shrinks_with_the_window():
    rng = np.random.default_rng(9)
    index = ExactIndex(8)
    index.add(np.arange(20_000), _unit(rng, 20_000, 8))
    big = index.capacity
    index.remove(np.arange(19_000))
    assert index.capacity <= big // 8
    assert len(index) == 1000 and 19_500 in index and 10 not in index


# --- automatic -----------------------------------------------------------------------------------------


def test_auto_switches_at_threshold_and_stays_right():
    rng = np.random.default_rng(10)
    d = 32
    x = _clustered(rng, 700, d, centres=40)
    q = _clustered(rng, 40, d, centres=40)
    # One build thread: a multi-threaded HNSW build differs from run to run, and this small graph's
    # recall with it (seen once at < 0.98 under a loaded machine).
    index = AutoIndex(d, threshold=500, threads=1)
    index.add(np.arange(400), x[:400])
    index.add(np.arange(400, 500), x[400:500])  # exactly at the threshold: still exact
    assert not index.is_approximate and isinstance(index.inner, ExactIndex)
    exact_ids = index.search(q, 10)[1]
    np.testing.assert_array_equal(exact_ids, _brute(dict(enumerate(x[:500])), q, 10)[1])
    index.add([3], x[3:4])  # an upsert does not grow it
    assert not index.is_approximate

    index.add(np.arange(500, 501), x[500:501])  # one past: approximate, with everything carried over
    assert index.is_approximate and isinstance(index.inner, AnnIndex)
    assert len(index) == 501 and all(i in index for i in range(501))
    sims, ids = index.search(q, 10)
    want_sims, want_ids = _brute(dict(enumerate(x[:501])), q, 10)
    assert _recall(ids, want_ids) >= 0.98
    np.testing.assert_allclose(sims[:, 0], want_sims[:, 0], atol=5e-3)

    index.add(np.arange(501, 700), x[501:700])
    index.remove(np.arange(300))  # shrinking below the threshold keeps it approximate
    assert index.is_approximate and len(index) == 400
    ids = index.search(q, 10)[1]
    assert _recall(ids, _brute({i: x[i] for i in range(300, 700)}, q, 10)[1]) >= 0.98


@pytest.mark.parametrize("grow_to", [100, 600])
def test_auto_save_load_round_trip(tmp_path, grow_to):
    rng = np.random.default_rng(11)
    d = 32
    x = _clustered(rng, grow_to, d, centres=30)
    index = AutoIndex(d, threshold=500, expansion_search=80, threads=1)
    index.add(np.arange(grow_to), x)
    index.remove([0, 1, 2])
    assert index.is_approximate == (grow_to > 500)
    q = _unit(rng, 30, d)
    before = index.search(q, 10)
    index.save(tmp_path / "auto")
    index.save(tmp_path / "auto")  # saving over an earlier save replaces it
    loaded = load_index(tmp_path / "auto")
    assert isinstance(loaded, AutoIndex)
    assert loaded.is_approximate == index.is_approximate and loaded.threshold == 500 and len(loaded) == len(index)
    after = loaded.search(q, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    if loaded.is_approximate:
        assert isinstance(loaded.inner, AnnIndex) and loaded.inner.options["expansion_search"] == 80


def test_exact_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(12)
    x = _unit(rng, 300, 16)
    index = ExactIndex(16)
    index.add(np.arange(300) * 7, x)
    index.remove(np.arange(0, 300 * 7, 21))
    q = _unit(rng, 10, 16)
    before = index.search(q, 5)
    index.save(tmp_path / "exact")
    loaded = ExactIndex.load(tmp_path / "exact")
    after = loaded.search(q, 5)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    with pytest.raises(ValueError, match="not 'ann'"):
        AnnIndex.load(tmp_path / "exact")
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "nothing")
