"""bench.real_groups reads the real streams by path; without them it says so and exits 2 (the figures
themselves are in BENCHMARKS.md: a run takes minutes)."""

from __future__ import annotations

from bench import real_groups


def test_says_so_when_the_real_data_is_absent(tmp_path, capsys):
    assert real_groups.main(["--datasets", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no real data" in err and "stream.csv" in err and "dev_gold.csv" in err
