"""Packed convolutional networks: 2-d convolutions (no bias) followed by dense layers.

Weight layer l < C (C convolutions) has a weight [M, out_c, in_c, k, k]; the activities around it are
images [M, B, c, h, w]. The input (flattened [B, D] shared by all members or [M, B, D]) is viewed as
images of `input_shape`. The dense layers after the convolutions see the last image flattened, as
torch.nn.Flatten does; the errors they send back are unflattened. The M members run as one grouped
convolution (groups = M; a shared input runs as one plain convolution with M * out_c channels).

`ConvParams` provides the three layer operations the rules use (network.Params' seam), so PC's
inference and plasticity and BP run on it unchanged: value nodes sit on the convolutions' feature maps.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from network import Params, dense_shapes, init_params, linear


def flat(a):
    """Images [M, B, c, h, w] flattened as torch.nn.Flatten does, [M, B, c * h * w]; others as they are."""
    return a.flatten(-3) if a.dim() == 5 else a


@dataclass(frozen=True)
class ConvLayer:
    """A convolution's geometry: kernel size, stride, zero padding."""
    kernel: int
    stride: int
    padding: int

    def output_size(self, size):
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass
class ConvParams(Params):
    """Packed weights of convolutions (`convs`, in order) followed by dense layers; `shapes[l]` is
    the image shape (c, h, w) at the input of convolution l, and shapes[C] the last one's output."""
    convs: tuple = ()
    shapes: tuple = ()

    def layer(self, l, a):
        if l >= len(self.convs):
            return linear(flat(a), self.weights[l], self.biases[l])
        conv, w = self.convs[l], self.weights[l]
        images, groups = self.grouped(l, a)
        out = F.conv2d(images, w.flatten(0, 1), stride=conv.stride, padding=conv.padding, groups=groups)
        return self.ungrouped(out)

    def back(self, l, e):
        if l >= len(self.convs):
            e_in = torch.matmul(e, self.weights[l])
            return e_in.unflatten(-1, self.shapes[l]) if l == len(self.convs) else e_in
        conv, w = self.convs[l], self.weights[l]
        members, (_, h, width) = w.shape[0], self.shapes[l]
        grouped = self.grouped(l + 1, e)[0]
        padding = [size - ((n - 1) * conv.stride - 2 * conv.padding + conv.kernel)
                   for size, n in zip((h, width), grouped.shape[-2:])]
        images = F.conv_transpose2d(grouped, w.flatten(0, 1), stride=conv.stride, padding=conv.padding,
                                    output_padding=padding, groups=members)
        return self.ungrouped(images)

    def weight_gradient(self, l, a, e):
        if l >= len(self.convs):
            return super().weight_gradient(l, flat(a), e)
        conv, w = self.convs[l], self.weights[l]
        images, groups = self.grouped(l, a)
        grad = conv2d_weight(images, w.flatten(0, 1).shape, self.grouped(l + 1, e)[0], stride=conv.stride,
                             padding=conv.padding, groups=groups)
        return -grad.view_as(w)

    def grouped(self, l, a):
        """Activity a at the input of layer l as one batch of images [B, channels, h, w] and the
        number of groups: a shared input [B, D] as its own images (groups 1), member activities
        [M, B, ...] with the members' channels side by side (groups M)."""
        shape = self.shapes[l]
        if a.dim() == 2:
            return a.view(a.shape[0], *shape), 1
        members, batch = a.shape[:2]
        return a.reshape(members, batch, *shape).transpose(0, 1).flatten(1, 2), members

    def ungrouped(self, images):
        """[B, M * c, h, w] -> [M, B, c, h, w]."""
        members = self.weights[0].shape[0]
        return images.unflatten(1, (members, -1)).transpose(0, 1)


def conv_geometry(input_shape, layers):
    """The ConvLayer of every convolution in `layers` (config dicts: channels, kernel, stride,
    padding) and the image shapes from the input (c, h, w) through every convolution's output."""
    convs = tuple(ConvLayer(c["kernel"], c["stride"], c["padding"]) for c in layers)
    shapes = [tuple(input_shape)]
    for conv, layer in zip(convs, layers):
        _, h, w = shapes[-1]
        shapes.append((layer["channels"], conv.output_size(h), conv.output_size(w)))
    return convs, tuple(shapes)


def weight_shapes(conv_config, sizes):
    """The weight shapes of the convolutions ([out_c, in_c, k, k]) and of the dense layers after
    them ([out, in]; sizes[0] is the last convolution's flattened output)."""
    convs, shapes = conv_geometry(conv_config["input_shape"], conv_config["layers"])
    return [(out[0], inp[0], c.kernel, c.kernel) for c, inp, out in zip(convs, shapes[:-1], shapes[1:])] + \
        dense_shapes(sizes)


def with_convolutions(params, conv_config):
    """Packed weights (convolutions first) as a ConvParams of the geometry in `conv_config`."""
    convs, shapes = conv_geometry(conv_config["input_shape"], conv_config["layers"])
    return ConvParams(params.weights, params.biases, params.masks, params.frozen, convs=convs, shapes=shapes)


def conv_params(conv_config, sizes, inits, bias, generators, dtype=torch.float32, device="cpu",
                frozen=frozenset()):
    """Packed initial weights of convolutions (conv_config: input_shape, layers) then dense layers
    of `sizes`, member m's drawn from generators[m] with inits[m]."""
    params = init_params(weight_shapes(conv_config, sizes), inits, bias, generators, dtype, device, frozen=frozen)
    return with_convolutions(params, conv_config)
