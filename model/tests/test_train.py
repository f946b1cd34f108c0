"""Training is deterministic: the same seed gives the same weights, bit for bit."""
import torch

from model.train import augment, train


def test_training_is_deterministic():
    runs = [train(epochs=1, seed=7, train_images=1024, log=lambda _: None)[0].state_dict() for _ in range(2)]
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k
    other = train(epochs=1, seed=8, train_images=1024, log=lambda _: None)[0].state_dict()
    assert not torch.equal(runs[0]["fc1.weight"], other["fc1.weight"])


def test_augment_shapes_and_content():
    x = torch.rand(16, 1, 28, 28)
    y = augment(x, torch.Generator().manual_seed(0), shift=0)
    # without shift, every image is itself or its mirror image
    same = (y == x).flatten(1).all(1) | (y == x.flip(-1)).flatten(1).all(1)
    assert same.all()
    z = augment(x, torch.Generator().manual_seed(0))
    assert z.shape == x.shape and z.min() >= 0
