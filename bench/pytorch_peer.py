#!/usr/bin/python3
"""The seed model trained in PyTorch, as the peer dpmnist is compared against.

Same data file and split (data/mnist.h5, pixel/255), 784-128-10 ReLU, softmax
cross-entropy, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-7), batch 32 per process,
Glorot-uniform kernels and zero biases, a per-epoch shuffle of each process's
contiguous shard, as dpmnist-train does. --np 1 runs one plain process; --np N
(or --ddp) runs DistributedDataParallel over gloo on 127.0.0.1 with
torch.multiprocessing. Every process uses one intra-op thread and, when there
are enough cores, is pinned to its own core (as launch/train.sh binds ranks).

Per-epoch train time excludes evaluation and is the maximum over processes.
Needs Debian's python3-torch and python3-h5py (tools/install_deps.sh --torch):
run it with /usr/bin/python3.

  /usr/bin/python3 bench/pytorch_peer.py --data data/mnist.h5 [--np 2] [--epochs 5] [--json FILE]
"""
import argparse
import json
import math
import os
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
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per process")
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


def pin_to_core(rank, world):
    cores = sorted(os.sched_getaffinity(0))
    if world <= len(cores):
        os.sched_setaffinity(0, {cores[rank]})
        return True
    return False


def worker(rank, world, args, port, results):
    distributed = world > 1 or args.ddp
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
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
                       parameters=sum(p.numel() for p in model.parameters()))
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
    print(f"pytorch_peer: torch {torch.__version__}, {mode}, {args.np} process(es), "
          f"784-{args.hidden.replace(',', '-')}-10, Adam lr {args.lr} eps {args.eps}, batch "
          f"{args.batch} per process, {args.threads} thread(s) each, {args.epochs} epochs",
          flush=True)
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
    summary = dict(system="pytorch", torch_version=torch.__version__, mode=mode,
                   world_size=args.np, batch_per_process=args.batch, threads=args.threads,
                   bound_to_cores=results["bound"], hidden=args.hidden,
                   parameters=results["parameters"], steps_per_epoch=results["steps_per_epoch"],
                   epochs=epochs,
                   mean_train_seconds=mean,
                   timed_epochs=[e["epoch"] for e in timed],
                   test_acc=epochs[-1]["test_acc"], test_loss=epochs[-1]["test_loss"])
    print(f"done: {mode} np={args.np}: {mean:.3f} s/epoch (train, mean of epochs "
          f"{timed[0]['epoch']}..{timed[-1]['epoch']}), test accuracy {summary['test_acc']:.6f}")
    if args.json:
        text = json.dumps(summary, indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")


if __name__ == "__main__":
    main()
