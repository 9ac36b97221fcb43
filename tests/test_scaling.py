"""Scaling laws on synthetic data with known answers: speedup, efficiency, Karp-Flatt, the Amdahl fit,
crossover sizes, throughput, the best-strategy map and phase medians."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import parbench
from parbench.analysis.phases import phase_medians
from parbench.analysis.scaling import (
    amdahl,
    annotate,
    best_map,
    crossover,
    crossovers,
    efficiency,
    fit_amdahl,
    fits,
    karp_flatt,
    lead_low,
    leader,
    speedup,
    throughput,
)
from parbench.results.schema import Cell, Record, Sample
from parbench.results.tidy import frame

WORKERS = (1, 2, 4, 8, 16)


def _record(strategy: str, workers: int, wall: float, size: int = 1000, phases: dict[str, int] | None = None,
            ok: bool = True) -> Record:
    """Three repeats of one cell, each exactly `wall` ns (so the median is `wall`)."""
    cell = Cell("array-sum", {"size": size, "kernel": "python", "fill": "arange"}, strategy, workers,
                None if strategy == "sequential" else "fork")
    samples = tuple(Sample(i, int(wall), int(wall), phases or {"compute": int(wall)}, 1, ok) for i in range(3))
    return Record(cell, "OK" if ok else "WRONG", 1, samples, setup_ns=1000, teardown_ns=500, cpus=(0,),
                  family="sequential" if strategy == "sequential" else "processes")


def _amdahl_run(f: float, t_seq: float = 1e9) -> pd.DataFrame:
    """A run where `pool` follows Amdahl's law with serial fraction f exactly."""
    records = [_record("sequential", 1, t_seq)]
    records += [_record("pool", p, t_seq * (f + (1 - f) / p)) for p in WORKERS]
    return annotate(parbench.summarize(frame("r", records)))


def test_speedup_and_efficiency_by_definition() -> None:
    """S = T_ref / T and E = S / p: 100 ms against 25 ms on 4 workers is 4x and 100%."""
    assert speedup(100e6, 25e6) == 4.0
    assert efficiency(4.0, 4) == 1.0
    assert efficiency(2.0, 4) == 0.5


def test_speedup_and_efficiency_apply_to_columns_as_summarize_uses_them() -> None:
    """Over arrays, element by element; no positive time is no speedup (NaN), never infinity."""
    assert list(speedup(np.array([100.0, 100.0, 100.0]), np.array([25.0, 0.0, np.nan]))[:1]) == [4.0]
    assert np.isnan(speedup(np.array([100.0, 100.0]), np.array([0.0, np.nan]))).all()
    assert list(efficiency(np.array([4.0, 2.0]), pd.Series([4, 4]))) == [1.0, 0.5]
    summary = _amdahl_run(0.0)
    assert list(summary["speedup"]) == list(speedup(summary["baseline_ns"], summary["median_ns"]))


@pytest.mark.parametrize("f", [0.0, 0.1, 0.5])
def test_karp_flatt_of_a_perfect_amdahl_curve_is_its_serial_fraction_at_every_p(f: float) -> None:
    """On an exact Amdahl curve the Karp-Flatt metric equals f for every p > 1."""
    for p in WORKERS[1:]:
        assert karp_flatt(float(amdahl(p, f)), p) == pytest.approx(f, abs=1e-12)


def test_karp_flatt_is_undefined_at_one_worker_and_for_no_speedup() -> None:
    """p = 1 (division by zero) and a missing speedup give NaN, never a number."""
    assert math.isnan(karp_flatt(1.0, 1))
    assert math.isnan(karp_flatt(float("nan"), 4))


def test_an_amdahl_curve_with_f_01_fits_back_to_01() -> None:
    """Exact speedups of f = 0.1 over p = 1..16 fit back to 0.1 +- 0.01, with a near-zero residual."""
    fit = fit_amdahl(WORKERS, [float(amdahl(p, 0.1)) for p in WORKERS])
    assert fit is not None
    assert fit.serial_fraction == pytest.approx(0.1, abs=0.01)
    assert fit.rmse < 1e-6
    assert fit.ceiling() == pytest.approx(10, rel=0.01)


def test_the_amdahl_fit_survives_noise() -> None:
    """Speedups of f = 0.2 with +-5% seeded noise still fit to 0.2 +- 0.03."""
    rng = np.random.default_rng(7)
    noisy = [float(amdahl(p, 0.2)) * rng.uniform(0.95, 1.05) for p in WORKERS]
    fit = fit_amdahl(WORKERS, noisy)
    assert fit is not None
    assert fit.serial_fraction == pytest.approx(0.2, abs=0.03)


def test_the_amdahl_fit_stays_within_0_and_1() -> None:
    """Slowdowns pin f at 1, superlinear speedups at 0; one worker count is no fit at all."""
    slow = fit_amdahl([1, 2, 4], [0.5, 0.4, 0.3])
    fast = fit_amdahl([1, 2, 4], [1.0, 2.5, 6.0])
    assert slow is not None and slow.serial_fraction == pytest.approx(1.0)
    assert fast is not None and fast.serial_fraction == pytest.approx(0.0, abs=1e-6)
    assert fit_amdahl([2, 2], [1.5, 1.6]) is None


def test_crossover_is_the_smallest_size_from_which_on_it_always_wins() -> None:
    """A win at a small size that is lost again later does not count; never winning at the top is None."""
    assert crossover({1e4: 0.5, 1e5: 1.2, 1e6: 1.5}) == 1e5
    assert crossover({1e4: 1.2, 1e5: 0.8, 1e6: 1.5}) == 1e6
    assert crossover({1e4: 1.5, 1e5: 1.2, 1e6: 0.9}) is None


def test_throughput_is_bytes_per_second() -> None:
    """80 MB read in 10 ms is 8 GB/s."""
    assert throughput(80e6, 10e6) == pytest.approx(8e9)


def test_annotate_adds_karp_flatt_and_fits_recover_the_serial_fraction_of_a_run() -> None:
    """Through summarize and annotate, a run built on Amdahl's law with f = 0.1 yields e = 0.1 per cell and
    an Amdahl fit of 0.1 for both absolute and self-relative speedups."""
    summary = _amdahl_run(0.1)
    pool = summary[summary["strategy"] == "pool"]
    assert pool.loc[pool["workers"] > 1, "karp_flatt"].to_numpy() == pytest.approx(0.1, abs=1e-9)
    fitted = fits(summary)
    assert len(fitted) == 1
    assert fitted["amdahl_f"].iloc[0] == pytest.approx(0.1, abs=0.01)
    assert fitted["amdahl_f_self"].iloc[0] == pytest.approx(0.1, abs=0.01)


def test_crossovers_and_best_map_of_a_run() -> None:
    """pool loses at 1e3 and wins from 1e4 on: crossover 1e4; the map picks the fastest cell per size and p."""
    records = [_record("sequential", 1, 100, size=1000), _record("pool", 2, 150, size=1000),
               _record("sequential", 1, 1000, size=10_000), _record("pool", 2, 600, size=10_000),
               _record("sequential", 1, 10_000, size=100_000), _record("pool", 2, 5_000, size=100_000)]
    summary = annotate(parbench.summarize(frame("r", records)))
    found = crossovers(summary)
    assert list(found["label"]) == ["pool"]
    assert found["crossover"].iloc[0] == 10_000
    best = best_map(summary)
    assert list(zip(best["size"], best["workers"], best["label"], strict=True)) == [
        (1000, 1, "sequential"), (1000, 2, "pool"), (10_000, 1, "sequential"), (10_000, 2, "pool"),
        (100_000, 1, "sequential"), (100_000, 2, "pool")]


def test_wrong_cells_get_no_speedup_and_no_fit() -> None:
    """A WRONG cell stays out of speedups, Karp-Flatt and the Amdahl fit."""
    records = [_record("sequential", 1, 100), _record("race", 1, 100, ok=False), _record("race", 2, 50, ok=False)]
    summary = annotate(parbench.summarize(frame("r", records)))
    race = summary[summary["strategy"] == "race"]
    assert race["speedup"].isna().all() and race["karp_flatt"].isna().all()
    assert fits(summary).empty


def test_phase_medians_add_up_to_one_call_from_cold() -> None:
    """Per cell: setup + spawn + compute + other + teardown = total, other being wall minus the phases."""
    record = _record("pool", 2, 1000, phases={"spawn": 300, "compute": 600})
    medians = phase_medians(frame("r", [record])).set_index("key").iloc[0]
    assert (medians["setup"], medians["spawn"], medians["compute"], medians["teardown"]) == (1000, 300, 600, 500)
    assert medians["other"] == 100
    assert medians["total"] == 1000 + 1000 + 500


def test_phase_medians_come_from_the_visits_summarize_times_the_cell_by() -> None:
    """A visit measured on a slow machine is left out of the phases as it is of the median: the bars and the
    median beside them describe the same repeats."""
    from dataclasses import replace

    slow = replace(_record("pool", 2, 3000, phases={"spawn": 2000, "compute": 1000}), visit=0, slowdown=2.0)
    steady = replace(_record("pool", 2, 1000, phases={"spawn": 300, "compute": 600}), visit=1, slowdown=1.0)
    df = frame("r", [slow, steady])
    medians = phase_medians(df).set_index("key").iloc[0]
    median = parbench.summarize(df)["median_ns"].iloc[0]
    assert (medians["spawn"], medians["compute"], medians["other"]) == (300, 600, 100)
    assert medians["spawn"] + medians["compute"] + medians["other"] == median == 1000


def test_families_sort_in_the_order_strategies_declare_them() -> None:
    """sequential, threads, processes, distributed (strategies.base.Family), then a family parbench does not know."""
    from parbench.analysis.scaling import family_rank

    families = pd.Series(["plugin-kind", "distributed", "processes", "threads", "sequential"])
    assert list(families.iloc[family_rank(families).argsort()]) == [
        "sequential", "threads", "processes", "distributed", "plugin-kind"]


def test_a_larger_size_that_failed_is_not_beaten() -> None:
    """pool wins at 1e3 and 1e4 but timed out at 1e5: it is not said to beat sequential from 1e3 on, and the
    failed size shows as a missing speedup."""
    from dataclasses import replace

    timeout = replace(_record("pool", 2, 1, size=100_000), status="TIMEOUT", samples=())
    records = [_record("sequential", 1, 100, size=1000), _record("pool", 2, 50, size=1000),
               _record("sequential", 1, 1000, size=10_000), _record("pool", 2, 500, size=10_000),
               _record("sequential", 1, 10_000, size=100_000), timeout]
    found = crossovers(annotate(parbench.summarize(frame("r", records))))
    assert list(found["label"]) == ["pool"]
    assert pd.isna(found["crossover"].iloc[0])
    sizes = found["sizes"].iloc[0]
    assert sizes[1000] == 2.0 and sizes[10_000] == 2.0 and math.isnan(sizes[100_000])


def _point(*cells: tuple[str, float, float, float]) -> pd.DataFrame:
    """One workload point: sequential and (strategy, speedup, CI low, CI high) cells at 2 workers."""
    rows = [{"strategy": "sequential", "workers": 1, "status": "OK", "median_ns": 1e6, "speedup": 1.0,
             "speedup_low": 1.0, "speedup_high": 1.0, "series": "sequential", "label": "sequential"}]
    rows += [{"strategy": name, "workers": 2, "status": "OK", "median_ns": 1e6 / s, "speedup": s, "speedup_low": low,
              "speedup_high": high, "series": name, "label": name} for name, s, low, high in cells]
    return pd.DataFrame(rows)


def test_a_winner_leads_by_the_margin_at_the_low_end_of_its_leads_ci() -> None:
    """thread-pool 1.86x (1.82-1.87) over threads 1.65x (1.59-1.71), as measured at delayed-square 4 x2: a 12.7%
    lead whose CI reaches down to 8.5%, "none clearly"; over a rival at 1.40x (1.36-1.44) it wins."""
    close = _point(("thread-pool", 1.86, 1.82, 1.87), ("threads", 1.65, 1.59, 1.71))
    assert lead_low(close.iloc[1], close.iloc[2]) == pytest.approx(1.085, abs=0.002)
    assert leader(close).name() == "none clearly"
    clear = _point(("thread-pool", 1.86, 1.82, 1.87), ("pool-map", 1.40, 1.36, 1.44))
    assert leader(clear).name() == "thread-pool x2"


def test_a_parallel_cell_beats_sequential_only_by_the_margin_at_its_cis_low_end() -> None:
    assert leader(_point(("pool-map", 1.15, 1.08, 1.22))).name() == "sequential"  # 1.15x, but maybe 1.08x
    assert leader(_point(("pool-map", 1.15, 1.11, 1.22))).name() == "pool-map x2"
