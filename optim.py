"""Weight optimizers for packed networks, with a learning rate per member, per layer or per weight.

`lr` is a tensor [M, L] (member m's layer l is stepped with lr[m, l]) or a list over layers of
tensors broadcastable to the layer's weights [M, out, in], e.g. [M, 1, 1] per member or [M, out, in]
per weight. A bias shares its layer's rate (which must then be one number per member).
The updates follow torch.optim.SGD and torch.optim.Adam exactly (weight decay is L2 added to the
gradient, as in those classes), so a packed run equals M runs of the torch optimizers. A gradient
of None (a frozen layer) leaves its tensor, and its optimizer state, untouched. `state_dict` and
`load_state_dict` save and restore what a checkpoint needs to continue bit for bit.
"""
import torch

from network import per_member


def _per_tensor_lrs(params, lr):
    """The learning rates of every tensor in `params.tensors` order; one rate per member is shaped
    [M, 1, ...] to broadcast against its tensor (e.g. a convolution's [M, out, in, k, k])."""
    lrs = list(lr) if isinstance(lr, list) else [lr[:, l] for l in range(len(params.weights))]
    for l, b in enumerate(params.biases):
        if b is not None and lrs[l].shape[1:].numel() != 1:
            raise ValueError(f"layer {l + 1} has a bias, so its learning rate must be one number per member")
    lrs += [lrs[l] for l, b in enumerate(params.biases) if b is not None]
    return [per_member(r.reshape(-1), p) if r.shape[1:].numel() == 1 else r for r, p in zip(lrs, params.tensors)]


class SGD:
    """p <- p - lr * (g + weight_decay * p)."""
    graphable = True   # no host-side state: a step can be replayed from a CUDA graph

    def __init__(self, params, lr, weight_decay=0.0):
        self.lrs = _per_tensor_lrs(params, lr)
        self.weight_decay = weight_decay

    def step(self, params, grads):
        for p, g, lr in zip(params.tensors, grads, self.lrs):
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p
            p.sub_(lr * g)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class Adam:
    """Adam (Kingma & Ba) with bias correction, as torch.optim.Adam with L2 weight decay."""
    graphable = False   # the step count and its bias corrections live on the host

    def __init__(self, params, lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8):
        self.lrs = _per_tensor_lrs(params, lr)
        self.weight_decay = weight_decay
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = 0
        self.m = [torch.zeros_like(p) for p in params.tensors]
        self.v = [torch.zeros_like(p) for p in params.tensors]

    def step(self, params, grads):
        self.steps += 1
        c1 = 1 - self.beta1 ** self.steps
        c2_sqrt = (1 - self.beta2 ** self.steps) ** 0.5
        for p, g, m, v, lr in zip(params.tensors, grads, self.m, self.v, self.lrs):
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p
            m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / c2_sqrt).add_(self.eps)
            p.sub_(lr / c1 * m / denom)

    def state_dict(self):
        return {"steps": self.steps, "m": [m.cpu().clone() for m in self.m], "v": [v.cpu().clone() for v in self.v]}

    def load_state_dict(self, state):
        """In place, so a CUDA graph recorded on these tensors stays valid."""
        self.steps = state["steps"]
        for live, saved in zip(self.m + self.v, state["m"] + state["v"]):
            live.copy_(saved)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
