"""Learning steps replayed from CUDA graphs.

On a GPU a small network's step is dominated by launching its kernels one by one (about 0.3 ms for a
PC inference step of any size up to thousands of members, benchmarks/README.md). A CUDA graph records
the whole step once and replays it as one launch: the same kernels on the same tensors, so the same
numbers. `GraphedStep` does this for a rule's step without the rule knowing: per shape of the batch it
runs the first steps as usual (warm-up), records the next one, and from then on copies each batch into
the recorded inputs and replays.

A step can be recorded when it decides nothing on the host from device values and keeps no host-side
state that changes from step to step: PC and BP with SGD qualify (`Rule.graphable`,
`optimizer.graphable`); Adam counts its steps on the host and target propagation's pseudo-inverse
waits for the device, so they run as usual. Everything the step changes (weights, optimizer state)
must be changed in place, as the engine does (also when it silences diverged members).
"""
import torch

WARMUP_STEPS = 2     # plain steps per batch shape before one is recorded
MAX_GRAPHS = 4       # batch shapes recorded per learner; further shapes run as usual


def graphs_pay(device, rule, optimizer):
    """Whether a learner's steps are replayed from CUDA graphs: on a GPU, for a rule and an optimizer
    that can be recorded."""
    return torch.device(device).type == "cuda" and rule.graphable and getattr(optimizer, "graphable", False)


class GraphedStep:
    """`step(params, optimizer, s, t, act, settings, mask)` replayed from one CUDA graph per shape of
    (s, t, mask); the loss it returns is a copy (the recorded one is overwritten by the next replay)."""

    def __init__(self, step):
        self.step = step
        self.seen = {}     # shape key -> plain steps so far
        self.graphs = {}   # shape key -> (graph, recorded inputs, recorded loss)

    def __call__(self, params, optimizer, s, t, act, settings, mask=None):
        key = tuple(None if x is None else (tuple(x.shape), x.dtype) for x in (s, t, mask))
        if key in self.graphs:
            graph, inputs, loss = self.graphs[key]
            for recorded, x in zip(inputs, (s, t, mask)):
                if recorded is not None:
                    recorded.copy_(x)
            graph.replay()
            return loss.clone()
        if len(self.graphs) >= MAX_GRAPHS:
            return self.step(params, optimizer, s, t, act, settings, mask)
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] <= WARMUP_STEPS:
            return self.warm_up(params, optimizer, s, t, act, settings, mask)
        inputs = tuple(None if x is None else x.clone() for x in (s, t, mask))
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss = self.step(params, optimizer, *inputs[:2], act, settings, inputs[2])
        self.graphs[key] = graph, inputs, loss
        graph.replay()     # recording ran nothing: this batch's step
        return loss.clone()

    def warm_up(self, params, optimizer, s, t, act, settings, mask):
        """A plain step on a side stream (as CUDA graphs want the steps before recording)."""
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            loss = self.step(params, optimizer, s, t, act, settings, mask)
        torch.cuda.current_stream().wait_stream(stream)
        loss.record_stream(torch.cuda.current_stream())   # not reused by the side stream while still read
        return loss
