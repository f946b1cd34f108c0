"""Fixtures shared by the model tests: the committed export and PyTorch's quantized model."""
import pytest
import torch

from model.settings import EXPORT_DIR as EXPORT


@pytest.fixture(scope="session")
def qmodel():
    from model.quantize import load_quantized
    return load_quantized(EXPORT / "quantized_state_dict.pt")


@pytest.fixture(scope="session")
def params():
    from model.params import load_params
    return load_params(EXPORT)


@pytest.fixture(scope="session")
def report():
    import json
    return json.loads((EXPORT / "report.json").read_text())


@pytest.fixture
def gen(request):
    """torch.Generator seeded from $SEED (or a fresh seed), printed for replay."""
    import os
    import random
    seed = int(os.environ.get("SEED", random.randrange(2**31)))
    print(f"seed {seed} (replay with SEED={seed})")
    return torch.Generator().manual_seed(seed)
