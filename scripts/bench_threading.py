#!/usr/bin/env python
"""Numba threading layer vs PyTorch in one process: which setup keeps both fast.

essop-sim's datapath kernels are numba ``parallel=True`` functions; PyTorch runs the rest of a
training step. Numba's default threading layer on Linux is OpenMP, and in a process with PyTorch
both run on one OpenMP runtime (the libgomp loaded first serves both), whose idle threads
spin-wait after every parallel region unless ``OMP_WAIT_POLICY=passive``. For each option, in a
fresh process (torch imported first, as in a training script; the layer is fixed when numba
first starts its pool), this measures:

* ``torch before``: median seconds of an FP32 epoch of the digits MLP (64-32-32-10, batch 32,
  45 steps) before any parallel numba kernel has run;
* ``kernel``: median seconds of ``essop_sim.outer_product`` on a larger update (K x n x m =
  512 x 1152 x 128, BL 64, vector sharing), ``--numba-threads`` threads (default 2);
* ``torch after``: median FP32 epoch after those kernels ran, and ``torch interleaved``: median
  FP32 epoch with one kernel call before each epoch;
* ``idle CPU``: CPU seconds the process burns in the 200 ms after a kernel returns while its
  main thread sleeps (spinning worker threads);
* ``essop step`` and ``fp32 step``: median step seconds of one epoch of the digits CNN with ESSOP
  BL16 weight gradients (numba threads as above) and one FP32 epoch right after, in the same
  process (``essop_sim.training.train_classifier``).

Options: ``default`` (nothing set: essop-sim's own choice, essop_sim._numba_cache: workqueue
in a process with torch),
``omp`` (numba's default OpenMP layer, OMP_WAIT_POLICY unset), ``omp-passive``
(OpenMP with OMP_WAIT_POLICY=passive: idle threads sleep), ``workqueue`` (numba's own simple
pool), ``tbb`` (only if the tbb package is installed). Run from the repository root::

    python scripts/bench_threading.py                   # all options, 3 repeats each
    python scripts/bench_threading.py --options omp workqueue --torch-threads 2

Prints the command, the machine (CPU, cores, load average before and after) and a table; with
``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from benchinfo import cpu_model

ROOT = Path(__file__).resolve().parents[1]

OPTIONS = {
    "default": {},  # nothing set: what essop_sim configures (essop_sim._numba_cache)
    "omp": {"NUMBA_THREADING_LAYER": "omp"},
    "omp-passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
    "tbb": {"NUMBA_THREADING_LAYER": "tbb"},
}
CLEARED = ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")


def tbb_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tbb") is not None


def worker(args: argparse.Namespace) -> dict:
    """The measurements of one option, in this process (its environment already set)."""
    import numba
    import numpy as np
    import torch

    import essop_sim
    from essop_sim.config import load_config
    from essop_sim.datasets import load_digits
    from essop_sim.models import DigitsCNN, DigitsMLP
    from essop_sim.training import train_classifier

    torch.set_num_threads(args.torch_threads)
    numba.set_num_threads(min(args.numba_threads, numba.config.NUMBA_NUM_THREADS))
    s = load_digits(seed=0)
    train = (torch.from_numpy(s.x_train), torch.from_numpy(s.y_train))
    test = (torch.from_numpy(s.x_test), torch.from_numpy(s.y_test))

    torch.manual_seed(0)
    mlp = DigitsMLP()
    opt = torch.optim.SGD(mlp.parameters(), lr=0.05, momentum=0.9)

    def epoch() -> float:
        t0 = time.perf_counter()
        for i in range(0, len(train[0]), 32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(mlp(train[0][i:i + 32]),
                                              train[1][i:i + 32]).backward()
            opt.step()
        return time.perf_counter() - t0

    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((512, 1152))).astype(np.float32)
    delta = (1e-3 * rng.standard_normal((512, 128))).astype(np.float32)
    cfg = load_config(None, {"essop.bitstream_length": 64})

    def kernel() -> float:
        t0 = time.perf_counter()
        essop_sim.outer_product(x, delta, cfg, seed=1)
        return time.perf_counter() - t0

    out: dict = {}
    epoch()  # warm-up (allocations, autograd)
    out["torch_before"] = float(np.median([epoch() for _ in range(args.repeats)]))
    kernel()  # compile / load from the cache, start the pool
    out["kernel"] = float(np.median([kernel() for _ in range(args.repeats)]))
    out["torch_after"] = float(np.median([epoch() for _ in range(args.repeats)]))
    inter = []
    for _ in range(args.repeats):
        kernel()
        inter.append(epoch())
    out["torch_interleaved"] = float(np.median(inter))
    spin = []
    for _ in range(3):  # CPU seconds the process burns while idle right after a kernel
        kernel()
        c0 = time.process_time()
        time.sleep(0.2)
        spin.append(time.process_time() - c0)
    out["idle_cpu"] = float(np.median(spin))
    kw = dict(epochs=1, batch_size=32, lr=0.05, seed=0)
    essop = train_classifier(DigitsCNN, train, test,
                             load_config(None, {"essop.bitstream_length": 16}), **kw)
    fp32 = train_classifier(DigitsCNN, train, test, None, **kw)
    out["essop_step"] = essop.median_step_seconds
    out["fp32_step"] = fp32.median_step_seconds
    out["threading_layer"] = numba.threading_layer()
    out["numba_threads"] = numba.get_num_threads()
    out["torch_threads"] = torch.get_num_threads()
    out["env"] = {k: os.environ.get(k) for k in CLEARED if os.environ.get(k) is not None}
    return out


def measure(args: argparse.Namespace, options: list[str], runs: dict[str, list[dict]]) -> None:
    """args.rounds fresh worker processes per option, round-robin, results into runs."""
    for _ in range(args.rounds):
        for option in options:
            env = {k: v for k, v in os.environ.items() if k not in CLEARED}
            env.update(OPTIONS[option])
            env["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker",
                   "--repeats", str(args.repeats), "--torch-threads", str(args.torch_threads),
                   "--numba-threads", str(args.numba_threads)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise SystemExit(f"{option}: worker failed:\n{res.stderr[-2000:]}")
            runs[option].append(json.loads(res.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions per figure")
    p.add_argument("--rounds", type=int, default=3,
                   help="fresh processes per option, run round-robin (medians reported)")
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--numba-threads", type=int, default=2)
    p.add_argument("--background", type=int, default=0,
                   help="busy-loop processes kept running during the measurement, to stand "
                        "in for other jobs on a shared machine (default 0)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return []
    options = [o for o in args.options if o != "tbb" or tbb_available()]
    skipped = sorted(set(args.options) - set(options))
    command = shlex.join(["python", "scripts/bench_threading.py", "--options", *args.options,
                          "--repeats", str(args.repeats), "--rounds", str(args.rounds),
                          "--torch-threads", str(args.torch_threads),
                          "--numba-threads", str(args.numba_threads),
                          "--background", str(args.background)])
    print(f"command: {command}")
    print(f"machine: {platform.platform()}, {cpu_model()}, {os.cpu_count()} cores, "
          f"load average before {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if skipped:
        print(f"skipped (not installed): {', '.join(skipped)}")
    runs: dict[str, list[dict]] = {o: [] for o in options}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.background)]
    try:
        measure(args, options, runs)
    finally:
        for proc in busy:  # only the processes started here, by their handles
            proc.kill()
            proc.wait()
    import numpy as np

    keys = ("torch_before", "kernel", "torch_after", "torch_interleaved", "idle_cpu",
            "essop_step", "fp32_step")
    rows = []
    for option in options:
        row = {"option": option, "threading_layer": runs[option][0]["threading_layer"],
               "rounds": len(runs[option])}
        row.update({k: float(np.median([r[k] for r in runs[option]])) for k in keys})
        rows.append(row)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"background busy processes: {args.background}; load average after {load}; "
          f"torch threads {args.torch_threads}, numba threads {args.numba_threads}; medians "
          f"over {args.rounds} processes x {args.repeats} repeats")
    print(f"{'option':<13}{'layer':<11}{'MLP epoch before':>17}{'kernel':>10}"
          f"{'epoch after':>13}{'interleaved':>13}{'idle CPU':>10}{'ESSOP step':>12}"
          f"{'FP32 step':>11}")
    for r in rows:
        print(f"{r['option']:<13}{r['threading_layer']:<11}{1e3 * r['torch_before']:>14.1f} ms"
              f"{1e3 * r['kernel']:>7.1f} ms{1e3 * r['torch_after']:>10.1f} ms"
              f"{1e3 * r['torch_interleaved']:>10.1f} ms{1e3 * r['idle_cpu']:>7.1f} ms"
              f"{1e3 * r['essop_step']:>9.2f} ms"
              f"{1e3 * r['fp32_step']:>8.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command, "rows": rows, "runs": runs},
                                              indent=2))
    return rows


if __name__ == "__main__":
    main()
