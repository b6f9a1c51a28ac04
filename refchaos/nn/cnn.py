"""The small CNN of Herrmann, Granz and Landgraf 2022 (H22), as in their published code.

Layer table (c = ``channels``, input 1 x 16 x 16 by default; every convolution 3x3, stride 1,
zero padding 1, so it keeps the image size; every pool 2x2 with stride 2 halves it):

=====  ===========================  ======================  ==========================
block  layer                        output (per sample)     parameters (c = 4)
=====  ===========================  ======================  ==========================
1      Conv2d(1, c, 3, pad 1), act  c x 16 x 16             c*1*9 + c      = 40
       MaxPool2d(2)                 c x 8 x 8
2      Conv2d(c, c, 3, pad 1), act  c x 8 x 8               c*c*9 + c      = 148
       MaxPool2d(2)                 c x 4 x 4
3      Conv2d(c, 2c, 3, pad 1), act 2c x 4 x 4              2c*c*9 + 2c    = 296
       MaxPool2d(2)                 2c x 2 x 2
4      Conv2d(2c, 2c, 3, pad 1), act 2c x 2 x 2             2c*2c*9 + 2c   = 584
       MaxPool2d(2)                 2c x 1 x 1
head   Flatten, Dense(2c, 10)       10 logits               2c*10 + 10     = 90
=====  ===========================  ======================  ==========================

With c = 4 that is 1,158 parameters, the "about 1,158" of the paper's setup. theta is in the
order of ``torch.cat([p.flatten() for p in net.parameters()])`` for the equivalent
``nn.Sequential``.

``pool="avg"`` puts AvgPool2d(2) where H22 have MaxPool2d(2) (same shapes, same parameters):
not H22's network, but with a smooth activation it makes the whole network smooth (max pooling
is only piecewise linear), the control for experiments that ask what the max-pool's routing does.
"""

from __future__ import annotations

from .conv import Conv2d
from .dense import Dense
from .elementwise import Elementwise
from .flatten import Flatten
from .model import Model
from .pool import AvgPool2d, MaxPool2d

KERNEL = 3  # 3x3 convolutions throughout.
PADDING = 1  # "same" padding for a 3x3 kernel at stride 1.
POOL = 2  # 2x2 pooling, stride 2.
POOLS = {"max": MaxPool2d, "avg": AvgPool2d}  # H22 use "max"


def cnn(channels=4, activation="relu", loss="cross_entropy", input_size=16, num_classes=10,
        pool="max"):
    """H22's CNN on (B, 1, input_size, input_size) images; see the module's layer table.

    Parameters
    ----------
    channels : int
        Base width c: the blocks have c, c, 2c, 2c channels.
    input_size : int
        Side of the square single-channel input; after four pools the head sees
        2c x (input_size // 16)^2 features (the Dense layer adapts; 16 gives 2c).
    pool : {"max", "avg"}
        The 2x2 pooling of every block: H22's max pooling, or average pooling (see above).
    """
    c = int(channels)
    if c < 1:
        raise ValueError(f"cnn needs channels >= 1, got {channels}")
    if pool not in POOLS:
        raise ValueError(f"cnn pool {pool!r} is unknown; use one of {', '.join(POOLS)}")
    widths = [1, c, c, 2 * c, 2 * c]
    layers = []
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers += [
            Conv2d(c_in, c_out, KERNEL, stride=1, padding=PADDING),
            Elementwise(activation),
            POOLS[pool](POOL),
        ]
    side = int(input_size)
    for _ in range(4):
        side //= POOL
    if side < 1:
        raise ValueError(f"cnn needs input_size >= {POOL**4} for four 2x2 pools, got {input_size}")
    layers += [Flatten(), Dense(2 * c * side * side, int(num_classes))]
    return Model(layers, loss, (1, int(input_size), int(input_size)))
