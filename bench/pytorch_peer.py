#!/usr/bin/python3
"""The seed model trained in PyTorch, as the peer dpmnist is compared against.

Same data file and split (data/mnist.h5, pixel/255), 784-128-10 ReLU, softmax
cross-entropy, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-7), batch 32 per process,
Glorot-uniform kernels and zero biases, a per-epoch shuffle of each process's
contiguous shard, as dpmnist-train does. --np 1 runs one plain process; --np N
(or --ddp) runs DistributedDataParallel over gloo on 127.0.0.1 with
torch.multiprocessing. Every process uses one intra-op thread and one inter-op
thread and, when there are enough cores, is pinned to its own core (as
launch/train.sh binds ranks).

PyTorch is measured at its best: --flush-denormals on (the default) calls
torch.set_flush_denormal(True) in every process before any work, so subnormal
floats (which appear in Adam's moments and small gradients) are flushed to zero
instead of taking the slow microcoded path; --flush-denormals off runs PyTorch
as shipped. Whether the CPU supports it (the call returns False where it does
not), the CPU model, torch's version and its CPU capability/BLAS are printed
and written to the JSON, so every result names its machine.

Per-epoch train time excludes evaluation and is the maximum over processes.
Needs Debian's python3-torch and python3-h5py (tools/install_deps.sh --torch):
run it with /usr/bin/python3.

  /usr/bin/python3 bench/pytorch_peer.py --data data/mnist.h5 [--np 2] [--epochs 5]
      [--flush-denormals on|off] [--json FILE]
"""
import argparse
import json
import math
import os
import re
import socket
import sys
import time

try:
    import h5py
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    import torch.nn.functional as F
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.exit(f"pytorch_peer.py: {error}; install Debian's python3-torch and python3-h5py "
             "(bash tools/install_deps.sh --torch) and run with /usr/bin/python3")

INPUTS, CLASSES = 784, 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/mnist.h5", help="HDF5 file from dpmnist-prepare")
    p.add_argument("--np", type=int, default=1, help="processes; > 1 runs DDP over gloo")
    p.add_argument("--ddp", action="store_true", help="use DDP even with --np 1")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=32, help="samples per process per step")
    p.add_argument("--hidden", default="128", help="hidden widths, comma-separated")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-7)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads per process (1: the fair setting; "
                        "set_flush_denormal only reaches the calling thread)")
    p.add_argument("--flush-denormals", choices=("on", "off"), default="on",
                   help="torch.set_flush_denormal in every process: on = PyTorch at its best "
                        "(default), off = as shipped")
    p.add_argument("--no-bind", action="store_true", help="do not pin processes to cores")
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--json", metavar="FILE", help="write the summary as JSON ('-' for stdout)")
    args = p.parse_args(argv)
    if args.np < 1 or args.batch < 1 or args.epochs < 1:
        p.error("--np, --batch and --epochs must be >= 1")
    return args


def shard_range(count, rank, size):
    """dpmnist's shard_range: contiguous [begin, end), sizes differ by at most one."""
    base, extra = divmod(count, size)
    begin = rank * base + min(rank, extra)
    return begin, begin + base + (1 if rank < extra else 0)


def read_split(path, split, begin=None, end=None):
    """images [n,784] float32 = pixel / 255 (a float division), labels [n] int64."""
    with h5py.File(path, "r") as f:
        version = int(f.attrs["format_version"])
        if version != 1:
            raise SystemExit(f"{path}: format_version {version}, expected 1 (docs/data_format.md)")
        images = f[f"{split}/images"]
        labels = f[f"{split}/labels"]
        sl = slice(begin, end)
        x = torch.from_numpy(np.ascontiguousarray(images[sl])).reshape(-1, INPUTS)
        y = torch.from_numpy(np.ascontiguousarray(labels[sl]).astype(np.int64))
    return x.float() / 255.0, y


def build_model(hidden, seed):
    torch.manual_seed(seed)
    layers, width = [torch.nn.Flatten()], INPUTS
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, CLASSES))
    model = torch.nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return model


@torch.no_grad()
def evaluate(model, x, y, batch):
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = model(x[i:i + batch])
        loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return loss / len(y), correct / len(y)


def cpu_model():
    """The first 'model name' of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def torch_cpu_config():
    """torch's CPU capability (the ISA its kernels dispatch to) and BLAS, briefly."""
    config = torch.__config__.show()
    capability = None
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    if get is not None:
        try:
            capability = get()
        except RuntimeError:
            capability = None
    if capability is None:
        m = re.search(r"CPU capability usage:\s*(\S+)", config)
        capability = m.group(1) if m else "unknown"
    blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    blas = blas.group(1) if blas else "unknown"
    if blas == "generic":  # Debian's build: the library is the libblas.so.3 alternative loaded
        loaded = loaded_blas()
        if loaded:
            blas = f"generic -> {loaded}"
    mkldnn = "MKL-DNN" in config or "oneDNN" in config
    return dict(cpu_capability=capability, blas=blas, mkldnn=mkldnn)


def loaded_blas():
    """The BLAS shared library mapped into this process (its resolved path), if any."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        name = os.path.basename(path)
        if name.startswith(("libblas.so", "libopenblas", "libmkl_rt", "libblis")):
            return os.path.realpath(path)
    return None


def set_flush_denormals(on):
    """torch.set_flush_denormal(on) for this thread: True where the CPU supports it."""
    return bool(torch.set_flush_denormal(on))


def pin_to_core(rank, world):
    cores = sorted(os.sched_getaffinity(0))
    if world <= len(cores):
        os.sched_setaffinity(0, {cores[rank]})
        return True
    return False


def worker(rank, world, args, port, results):
    distributed = world > 1 or args.ddp
    # Threads first (inter-op can only be set before any parallel work), then FTZ/DAZ,
    # which is a per-thread MXCSR setting: with one intra-op thread every kernel runs
    # on this thread, so the setting covers all the work.
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
    torch.set_num_threads(args.threads)
    flush_requested = args.flush_denormals == "on"
    flush_ok = set_flush_denormals(flush_requested)
    if flush_requested and not flush_ok and rank == 0:
        print("pytorch_peer: torch.set_flush_denormal(True) returned False: this CPU does not "
              "support flushing denormals (no SSE3/DAZ); running as shipped", flush=True)
    flush_active = flush_requested and flush_ok
    bound = not args.no_bind and pin_to_core(rank, world)
    if distributed:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
        dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world)

    with h5py.File(args.data, "r") as f:
        train_count = int(f["train/labels"].shape[0])
    begin, end = shard_range(train_count, rank, world)
    x, y = read_split(args.data, "train", begin, end)
    test_x, test_y = read_split(args.data, "test") if rank == 0 else (None, None)
    hidden = [int(h) for h in args.hidden.split(",")]
    model = build_model(hidden, args.seed)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(args.beta1, args.beta2),
                           eps=args.eps)
    # dpmnist's step count: every process takes ceil(N / global batch) steps.
    steps = math.ceil(train_count / (args.batch * world))
    need = steps * args.batch
    epochs = []
    for epoch in range(1, args.epochs + 1):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch * 1009 + rank)
        perm = torch.randperm(len(y), generator=g)
        if need > len(perm):  # a short shard pads with its own first samples, as DistributedSampler
            perm = torch.cat([perm, perm[:need - len(perm)]])
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        if distributed:
            dist.barrier()
        start = time.perf_counter()
        for step in range(steps):
            idx = perm[step * args.batch:(step + 1) * args.batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach().double() * len(idx)
                correct += (logits.argmax(1) == yb).sum()
        seconds = time.perf_counter() - start
        stats = torch.tensor([seconds, loss_sum.item(), float(correct.item()), steps * args.batch],
                             dtype=torch.float64)
        if distributed:
            seconds_max = stats[:1].clone()
            dist.all_reduce(seconds_max, op=dist.ReduceOp.MAX)
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
            stats[0] = seconds_max[0]
        if rank == 0:
            test_loss, test_acc = evaluate(model, test_x, test_y, args.eval_batch)
            row = dict(epoch=epoch, train_seconds=stats[0].item(),
                       train_loss=stats[1].item() / stats[3].item(),
                       train_acc=stats[2].item() / stats[3].item(), test_loss=test_loss,
                       test_acc=test_acc)
            epochs.append(row)
            print(f"epoch {epoch}/{args.epochs}  train loss {row['train_loss']:.4f} acc "
                  f"{row['train_acc']:.4f} | test loss {test_loss:.4f} acc {test_acc:.4f} | "
                  f"train {row['train_seconds']:.3f} s", flush=True)
        if distributed:
            dist.barrier()
    if rank == 0:
        results.update(epochs=epochs, bound=bound, steps_per_epoch=steps,
                       parameters=sum(p.numel() for p in model.parameters()),
                       flush_denormals=flush_active, flush_denormals_supported=flush_ok
                       if flush_requested else None,
                       intra_op_threads=torch.get_num_threads(),
                       inter_op_threads=torch.get_num_interop_threads())
    if distributed:
        dist.destroy_process_group()


def ddp_entry(rank, world, args, port, queue):
    results = {}
    worker(rank, world, args, port, results)
    if rank == 0:
        queue.put(results)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    args = parse_args()
    distributed = args.np > 1 or args.ddp
    mode = "ddp-gloo" if distributed else "single"
    cpu, config = cpu_model(), torch_cpu_config()
    print(f"pytorch_peer: torch {torch.__version__}, {mode}, {args.np} process(es), "
          f"784-{args.hidden.replace(',', '-')}-10, Adam lr {args.lr} eps {args.eps}, batch "
          f"{args.batch} per process, {args.threads} thread(s) each, {args.epochs} epochs, "
          f"flush denormals {args.flush_denormals}", flush=True)
    print(f"pytorch_peer: machine: {cpu or 'unknown CPU'}, {os.cpu_count()} cpus; torch CPU "
          f"capability {config['cpu_capability']}, BLAS {config['blas']}"
          f"{', oneDNN' if config['mkldnn'] else ''}", flush=True)
    if distributed:
        ctx = mp.get_context("spawn")
        queue = ctx.SimpleQueue()
        mp.spawn(ddp_entry, args=(args.np, args, free_port(), queue), nprocs=args.np, join=True)
        results = queue.get()
    else:
        results = {}
        worker(0, 1, args, 0, results)
    epochs = results["epochs"]
    timed = epochs[1:] if len(epochs) > 1 else epochs
    mean = sum(e["train_seconds"] for e in timed) / len(timed)
    flush = "on" if results["flush_denormals"] else "off"
    summary = dict(system="pytorch", torch_version=torch.__version__, mode=mode,
                   cpu_model=cpu, cpu_capability=config["cpu_capability"],
                   blas=config["blas"], mkldnn=config["mkldnn"],
                   flush_denormals=flush, flush_denormals_requested=args.flush_denormals,
                   flush_denormals_supported=results["flush_denormals_supported"],
                   world_size=args.np, batch_per_process=args.batch, threads=args.threads,
                   intra_op_threads=results["intra_op_threads"],
                   inter_op_threads=results["inter_op_threads"],
                   bound_to_cores=results["bound"], hidden=args.hidden,
                   parameters=results["parameters"], steps_per_epoch=results["steps_per_epoch"],
                   epochs=epochs,
                   mean_train_seconds=mean,
                   timed_epochs=[e["epoch"] for e in timed],
                   test_acc=epochs[-1]["test_acc"], test_loss=epochs[-1]["test_loss"])
    print(f"done: {mode} np={args.np}, flush denormals {flush}: {mean:.3f} s/epoch (train, mean "
          f"of epochs {timed[0]['epoch']}..{timed[-1]['epoch']}), test accuracy "
          f"{summary['test_acc']:.6f}")
    if args.json:
        text = json.dumps(summary, indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")


if __name__ == "__main__":
    main()
