"""SGD with momentum and L2 decay, with the original's decay exemptions for backbone and head BatchNorm."""

from __future__ import annotations

import paddle


def decay_groups(model: paddle.nn.Layer) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
    """(decayed, not decayed) trainable parameters.

    Upstream gives backbone BN and head (PicoFeat) BN their own L2Decay(0); CSP-PAN BN has none of its own and
    so gets the global decay. Everything else (conv weights and biases) is decayed.
    """
    exempt: set[int] = set()
    for name, layer in model.named_sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D | paddle.nn.BatchNorm) and not name.startswith("neck."):
            exempt.update(id(p) for p in layer.parameters())
    params = [p for p in model.parameters() if not p.stop_gradient]
    return [p for p in params if id(p) not in exempt], [p for p in params if id(p) in exempt]


def build_optimizer(
    model: paddle.nn.Layer, lr: float, momentum: float, weight_decay: float
) -> paddle.optimizer.Momentum:
    decayed, exempt = decay_groups(model)
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    if exempt:
        groups.append({"params": exempt, "weight_decay": 0.0})
    return paddle.optimizer.Momentum(learning_rate=lr, momentum=momentum, parameters=groups, weight_decay=weight_decay)
