"""``omicsdisent bench``: benchmark protocols (PolyMNIST-Quadrant) run end to end."""

from __future__ import annotations

import dataclasses

import click

MODEL_NAMES = ("MMVAE+", "IDMVAE", "lambda_mi=0", "lambda_genaug=0", "IDMVAE + diffusion")


@click.group("bench")
def bench():
    """Run a benchmark protocol and write its tables."""


@bench.command("polymnist-quadrant")
@click.option("--protocol", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="small: 32x32 canvas, 3,000 tuples, 20 epochs, ~22 min on 2 CPU cores; paper: the authors' setting (GPU).")
@click.option("--out", required=True, metavar="DIR", help="Folder for polymnist_quadrant.csv/.md and protocol.json.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes the data, the weights and training.")
@click.option("--epochs", type=int, default=None, help="Override the protocol's epochs.")
@click.option("--n-train", type=int, default=None, help="Override the protocol's number of training tuples.")
@click.option("--lr", type=float, default=None, help="Override the protocol's Adam learning rate (small: 5e-3).")
@click.option("--model", "models", multiple=True, type=click.Choice(MODEL_NAMES),
              help="Run only these rows (repeatable); default: all five.")
@click.option("--jobs", type=int, default=None,
              help="Rows trained at once on CPU, each in its own process (default: the protocol's; small: 2).")
@click.option("--bf16", is_flag=True, help="bf16 autocast in the image networks (GPU).")
@click.option("--channels-last", is_flag=True, help="Channels-last memory in the image networks (GPU).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the networks.")
@click.option("--force", is_flag=True, help="Replace existing result files in --out.")
def polymnist_quadrant(protocol, out, device, seed, epochs, n_train, lr, models, jobs, bf16, channels_last, compile_, force):
    """Train IDMVAE, MMVAE+ (lambda=0) and the ablations (lambda_mi=0, lambda_genaug=0, + diffusion prior)
    on PolyMNIST-Quadrant; print and write the probe and coherence tables beside the paper's numbers,
    with throughput (tuples/s) and measured TFLOP/s.

    \b
    Example:
      omicsdisent bench polymnist-quadrant --protocol small --out bench-small/
      omicsdisent bench polymnist-quadrant --protocol paper --device cuda --bf16 --channels-last --out bench-paper/
    """
    from omicsdisent.bench.polymnist_quadrant import PROTOCOLS, markdown_tables, run_benchmark
    from omicsdisent.errors import InputError

    chosen = PROTOCOLS[protocol]
    changes = {}
    if epochs is not None:
        if epochs < 1:
            raise InputError(f"option --epochs={epochs} is not valid; expected an integer >= 1")
        changes["epochs"] = epochs
    if n_train is not None:
        if n_train < chosen.batch_size:
            raise InputError(f"option --n-train={n_train} is not valid; expected at least the batch size {chosen.batch_size}")
        changes["n_train"] = n_train
    if lr is not None:
        if not 0 < lr < 1:
            raise InputError(f"option --lr={lr} is not valid; expected a learning rate between 0 and 1")
        changes["lr"] = lr
    if models:
        changes["models"] = tuple(models)
    if jobs is not None:
        if jobs < 1:
            raise InputError(f"option --jobs={jobs} is not valid; expected an integer >= 1")
        changes["jobs"] = jobs
    chosen = dataclasses.replace(chosen, **changes)
    result = run_benchmark(chosen, out, device=device, seed=seed, bf16=bf16, channels_last=channels_last,
                           compile=compile_, overwrite=force, log=click.echo)
    click.echo(markdown_tables(result))
