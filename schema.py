"""The config language: what an experiment YAML may say, as pydantic models, every key documented.

`Document` is the YAML around the trainable's `config`; `SupervisedConfig` is one member of the
`supervised` trainable (its data, network, rule settings and optimizer), checked across keys (sizes fit
the data, per-layer values fit the layers). A section's unknown or missing keys and a model's own
checks are errors at a key path (config_errors.py words them); loader.py loads a YAML with them,
json_schema.py exports them for editors.
"""
from functools import lru_cache
import math
import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Field, SerializeAsAny, WrapValidator, create_model,
                      model_validator)
from pydantic_core import PydanticCustomError

from config_errors import error_at
from conv import conv_geometry
from metrics import METRICS
from network import ACTIVATIONS, INITS
from optim import OPTIMIZERS
from rules import RULE_NAMES
from streams import STREAMS, Number, task_class
from utils import REF_PATTERN, ConfigError


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
@lru_cache
def _keys_of(model):
    """(all keys, required keys) of a model."""
    fields = model.model_fields
    return tuple(fields), tuple(name for name, field in fields.items() if field.is_required())


def _check_keys(model, value):
    """null stands for {}; unknown and missing keys are errors naming the allowed ones."""
    keys, required = _keys_of(model)
    value = {} if value is None else value
    if not isinstance(value, dict):   # a type mismatch: in a union, the other alternatives speak too
        raise PydanticCustomError("mapping_type", "{message}",
                                  {"message": f"expected a mapping with keys {', '.join(keys)}, got {value!r}"})
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise error_at(str(unknown[0]), f"unknown key; allowed: {', '.join(sorted(keys))}")
    for name in required:
        if name not in value:
            raise error_at(name, f"missing required key: {model.model_fields[name].description}")
    return value


class Section(BaseModel):
    """A mapping with known keys and exact types (1.0 is no integer, 1 no boolean); null is {}."""
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, value):
        return _check_keys(cls, value)


def _named(name, model, description):
    """`model` with a leading `name: Literal[name]` key: one choice of a mapping picked by name."""
    tag = create_model(f"{model.__name__}Name", __base__=Section,
                       name=(Literal[name], Field(description=description)))
    # Fields are collected from the bases in reverse order, so `name` comes first.
    return create_model(f"{_title(name)}{model.__name__}", __base__=(model, tag), __module__=__name__)


def _title(name):
    return "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", name))


def _by_name(models, own=None):
    """The type of a mapping whose `name` picks its model from `models` ({name: model}). With `own`,
    an experiments.<experiment>.<module>:<Class> name picks `own(name)`: a component an experiment
    defines itself."""
    def pick(value, handler):
        name = value.get("name") if isinstance(value, dict) else None
        if own is not None and isinstance(name, str) and ":" in name:
            try:
                model = own(name)
            except ConfigError as error:
                raise error_at("name", str(error).split(": ", 1)[1]) from None
            return model.model_validate(value)
        if not (isinstance(name, str) and name in models):
            allowed = (f"allowed: {', '.join(models)}"
                       + (", or an experiment's own experiments.<experiment>.<module>:<Class>" if own else ""))
            raise error_at("name", "missing; " + allowed if name is None else f"{name!r} is not allowed; {allowed}")
        return handler(value)
    union = Annotated[Union[tuple(models.values())], Field(discriminator="name")]
    return SerializeAsAny[Annotated[union, WrapValidator(pick)]]


PositiveNumber = Annotated[Number, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]
Index = Annotated[int, Field(ge=0)]
Bit = Annotated[int, Field(ge=0, le=1)]


def _nonempty(item):
    return Annotated[list[item], Field(min_length=1)]


# ---------------------------------------------------------------------------------------------
# The `supervised` trainable's config (one member)
# ---------------------------------------------------------------------------------------------
INIT_PARAMETERS = {
    "value": "the value of every weight",
    "std": "standard deviation of the weights",
    "mean": "mean of the weights",
    "gain": "scale factor (torch.nn.init's gain)",
}


def _init_model(name, defaults):
    """The keys of one weight initialisation of network.INITS: its parameters with their defaults."""
    fields = {key: (Number, Field(default, description=INIT_PARAMETERS.get(key)))
              for key, default in defaults.items()}
    return create_model(f"{_title(name)}Init", __base__=Section, __module__=__name__,
                        name=(Literal[name], Field(description=f"initialise the weights with {name}")),
                        **fields)


class PretrainedInit(Section):
    """Start from the final weights of an earlier run that kept them."""
    name: Literal["pretrained"] = Field(description="start from the weights a run saved")
    run: Annotated[str, Field(pattern=REF_PATTERN)] = Field(
        description="<experiment>/<run name> of a complete run with save_weights: true, "
                    "e.g. concept_drift/pretrain or concept_drift/pretrain-quick")
    member: Index = Field(0, description="which member of that run's trial")


class GivenInit(Section):
    """Weights given in the config (e.g. fixed output weights)."""
    name: Literal["given"] = Field(description="set the weights to the given values")
    values: _nonempty(_nonempty(Number)) = Field(description="the weight matrix [out][in]")


LAYER_INIT_MODELS = {**{name: _init_model(name, defaults) for name, (_, defaults) in INITS.items()
                        if name != "given"}, "given": GivenInit}
INIT_MODELS = {**LAYER_INIT_MODELS, "pretrained": PretrainedInit}


@lru_cache
def _task_model(name):
    """The `data` keys of a stream or task class (a registered name or an experiment's own class)."""
    task = task_class(name)
    if not hasattr(task, "Config"):
        raise ConfigError(f"name: {name} has no `Config` (the pydantic model of its data keys)")
    return _named(name, task.Config, "the stream or task (streams.STREAMS, or an experiment's own "
                                     "experiments.<experiment>.<module>:<Class>)")


class ConvLayerConfig(Section):
    """One 2-d convolution (no bias), followed by the activation."""
    channels: Count = Field(description="output channels")
    kernel: Count = Field(3, description="kernel size (square)")
    stride: Count = Field(1, description="stride")
    padding: Index = Field(0, description="zero padding on every side")


class ConvConfig(Section):
    """Convolutions before the dense layers (value nodes sit on their feature maps)."""
    input_shape: Annotated[list[Count], Field(min_length=3, max_length=3)] = Field(
        description="the input images' [channels, height, width]; their product is the data's inputs")
    layers: _nonempty(ConvLayerConfig) = Field(description="the convolutions, in order")


class ModelConfig(Section):
    """The packed network: layer sizes, activation, biases, initial weights, masks, fixed layers."""
    sizes: Optional[Annotated[list[Count], Field(min_length=2)]] = Field(
        None, description="units per layer, input first and output last (null: from num_layers, "
                          "width and the data's dimensions)")
    num_layers: Optional[Count] = Field(None, description="weight layers (null: from sizes)")
    width: Optional[Count] = Field(None, description="units of every hidden layer, with num_layers")
    activation: Literal[tuple(ACTIVATIONS)] = Field(
        "identity", description="f of every hidden layer (the output layer is linear unless "
                                "output_activation)")
    output_activation: bool = Field(False, description="apply f to the output layer too: o = f(mu_L)")
    bias: bool = Field(False, description="give every layer a bias (starting at zero, except "
                                          "with torch_default)")
    init: Union[_by_name(INIT_MODELS), Annotated[list[_by_name(LAYER_INIT_MODELS)], Field(min_length=1)]] = Field(
        description="initial weights: {name: <network.INITS name>, <its parameters>} for every layer, "
                    "a list with one such init per weight layer, or "
                    "{name: pretrained, run: <experiment>/<run name>}")
    masks: Optional[list[Optional[list[list[Bit]]]]] = Field(
        None, description="per weight layer: null, or a 0/1 matrix [out][in] whose zeros keep those "
                          "weights at zero (null: no masks)")
    trainable: Optional[list[bool]] = Field(
        None, description="per weight layer: false keeps that layer fixed (null: all learn)")
    conv: Optional[ConvConfig] = Field(
        None, description="convolutions before the dense layers; sizes then starts at the last "
                          "convolution's flattened output and num_layers counts both (null: an MLP)")


class StepRange(Section):
    """Inference steps as Python's range."""
    range: Annotated[list[Index], Field(min_length=2, max_length=3)] = Field(
        description="[start, stop] or [start, stop, step]: the steps start, start + step, ... < stop")


class PCConfig(Section):
    """Predictive coding's inference (read by rule: pc)."""
    T: Count = Field(128, description="inference steps per batch")
    inference_lr: PositiveNumber = Field(0.1, description="step size gamma of the inference dynamics")
    x_lr_discount: Annotated[Number, Field(ge=0, le=1)] = Field(
        0.5, description="factor on gamma after a step that raises the energy")
    update_p_at: Union[Literal["last", "all"], _nonempty(Index), StepRange] = Field(
        "last", description="inference steps at which the weights learn: last, all, a list of steps, "
                            "or {range: [start, stop]}")
    freeze_x_at: Optional[Index] = Field(
        None, description="inference step from which the value nodes stay where they are, e.g. to "
                          "update the weights on a frozen inferred state (null: they move at every "
                          "step but the last)")
    fused: bool = Field(False, description="run the inference loop as compiled code on a CPU (fused.py; dense "
                                           "nets with batches of one example: a C kernel, dense_kernel.py): "
                                           "the same results to float32 rounding, several times faster once "
                                           "compiled (tens of seconds per network shape, kept in a cache "
                                           "across launches); update_p_at other than last runs unfused")


class BPConfig(Section):
    """Backpropagation's steps (read by rule: bp)."""
    steps: Count = Field(1, description="weight steps per batch, e.g. as many as PC's T when PC "
                                        "updates the weights at every inference step")


class OptimizerConfig(Section):
    """The weight optimizer."""
    name: Literal[tuple(OPTIMIZERS)] = Field("sgd", description="optim.OPTIMIZERS")
    lr: Union[PositiveNumber, _nonempty(Union[PositiveNumber, _nonempty(_nonempty(PositiveNumber))])] = Field(
        description="learning rate, or a list with one per weight layer, each a number or a matrix "
                    "[out][in] with one rate per weight")
    weight_decay: Annotated[Number, Field(ge=0)] = Field(0.0, description="L2 weight decay")


class SupervisedConfig(Section):
    """One member of the `supervised` trainable: a packed MLP trained by a rule on a stream."""
    rule: Literal[RULE_NAMES] = Field(description="the learning rule (rules.RULES)")
    seed: Index = Field(description="seeds the member's initial weights and data")
    data: _by_name({name: _task_model(name) for name in STREAMS}, own=_task_model) = Field(
        description="the training stream: {name: <streams.STREAMS name, or an experiment's own "
                    "experiments.<experiment>.<module>:<Class>>, <its keys>}")
    model: ModelConfig = Field(description="the network")
    pc: PCConfig = Field(PCConfig(), description="predictive coding's inference settings")
    bp: BPConfig = Field(BPConfig(), description="backpropagation's settings")
    optimizer: OptimizerConfig = Field(description="the weight optimizer")
    error_units: Optional[_nonempty(Index)] = Field(
        None, description="output units whose error drives learning (null: all)")
    log: list[Literal[tuple(METRICS)]] = Field(["loss"], description="measurements per iteration (metrics.METRICS)")
    save_weights: bool = Field(False, description="keep the final weights (for a pretrained init)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating point type of the run")

    @model_validator(mode="after")
    def _cross_checks(self):
        n_in, n_out = task_class(self.data.name).dims(self.data.model_dump())
        _fill_sizes(self.model, n_in, n_out)
        _check_per_layer(self)
        return self


def _fill_sizes(model, n_in, n_out):
    """model.sizes and model.num_layers from each other, the width and the data's dimensions."""
    if model.conv is not None:
        _fill_conv_sizes(model, n_in, n_out)
        return
    if model.sizes is None:
        if model.num_layers is None or (model.width is None and model.num_layers > 1):
            raise error_at("model", "give either sizes, or num_layers (and width if > 1)")
        model.sizes = [n_in] + [model.width] * (model.num_layers - 1) + [n_out]
    if (model.sizes[0], model.sizes[-1]) != (n_in, n_out):
        raise error_at("model.sizes", f"{model.sizes} does not fit the data ({n_in} inputs, {n_out} outputs)")
    if model.num_layers not in (None, len(model.sizes) - 1):
        raise error_at("model.num_layers", f"{model.num_layers} disagrees with sizes")
    model.num_layers = len(model.sizes) - 1


def _fill_conv_sizes(model, n_in, n_out):
    """With convolutions: the input images fit the data, sizes starts at their flattened output,
    and num_layers counts the convolutions and the dense layers."""
    if math.prod(model.conv.input_shape) != n_in:
        raise error_at("model.conv.input_shape", f"{model.conv.input_shape} does not fit the data's {n_in} inputs")
    _, shapes = conv_geometry(model.conv.input_shape, [layer.model_dump() for layer in model.conv.layers])
    if min(min(shape[1:]) for shape in shapes) < 1:
        raise error_at("model.conv.layers", "the images shrink to nothing: use smaller kernels or strides")
    channels, height, width = shapes[-1]
    flat = channels * height * width
    if model.sizes is None or (model.sizes[0], model.sizes[-1]) != (flat, n_out):
        raise error_at("model.sizes", f"with conv, give the dense layers' sizes from the flattened "
                                      f"{channels}x{height}x{width} = {flat} to the {n_out} outputs, got {model.sizes}")
    layers = len(model.conv.layers) + len(model.sizes) - 1
    if model.num_layers not in (None, layers):
        raise error_at("model.num_layers", f"{model.num_layers} disagrees with conv and sizes ({layers} layers)")
    model.num_layers = layers
    if model.masks is not None:
        raise error_at("model.masks", "masks are for MLPs (not with model.conv)")


def _check_matrix(key, matrix, sizes, l, what):
    """A per-weight matrix of layer l must be [out][in] (or null)."""
    rows, columns = sizes[l + 1], sizes[l]
    if matrix is not None and (len(matrix) != rows or any(len(row) != columns for row in matrix)):
        raise error_at(key, f"expected a {what} of {rows} rows (out) by {columns} columns (in)")


def _check_per_layer(config):
    """Per-layer values fit the layers; unit and step indices exist."""
    model, layers = config.model, config.model.num_layers
    lr = config.optimizer.lr
    for key, value in (("optimizer.lr", lr), ("model.masks", model.masks), ("model.trainable", model.trainable),
                       ("model.init", model.init)):
        if isinstance(value, list) and len(value) != layers:
            raise error_at(key, f"needs one entry per weight layer ({layers})")
    for l, mask in enumerate(model.masks or []):
        _check_matrix(f"model.masks[{l}]", mask, model.sizes, l, "0/1 matrix")
    inits = model.init if isinstance(model.init, list) else [model.init] * layers
    per_weight_rates = any(isinstance(rates, list) for rates in (lr if isinstance(lr, list) else []))
    if model.conv is not None and (per_weight_rates or any(init.name == "given" for init in inits)):
        raise error_at("model.conv", "given weights and per-weight learning rates are for MLPs (not with conv)")
    for l, init in enumerate(inits):
        if init.name == "given":
            key = f"model.init[{l}].values" if isinstance(model.init, list) else "model.init.values"
            _check_matrix(key, init.values, model.sizes, l, "matrix of weights")
    for l, rates in enumerate(lr if isinstance(lr, list) else []):
        if isinstance(rates, list):
            _check_matrix(f"optimizer.lr[{l}]", rates, model.sizes, l, "matrix of rates")
            if model.bias:
                raise error_at(f"optimizer.lr[{l}]", "a layer with a bias needs one rate (its bias shares it)")
    if config.error_units is not None and max(config.error_units) >= model.sizes[-1]:
        raise error_at("error_units", f"output units are 0..{model.sizes[-1] - 1}, got {config.error_units}")
    if config.rule == "tp" and model.activation != "identity":
        raise error_at("rule", "tp (target propagation) is defined for linear networks: use activation: identity")
    steps = config.pc.update_p_at
    if isinstance(steps, StepRange):
        steps = range(*steps.range) if steps.range[2:] != [0] else []
    if not isinstance(steps, str) and (not steps or max(steps) >= config.pc.T):
        raise error_at("pc.update_p_at", f"steps must be a non-empty set of steps < T ({config.pc.T})")
    if config.pc.freeze_x_at is not None and config.pc.freeze_x_at >= config.pc.T:
        raise error_at("pc.freeze_x_at", f"must be < T ({config.pc.T})")


# ---------------------------------------------------------------------------------------------
# The experiment document around the trainable's `config`
# ---------------------------------------------------------------------------------------------
class Stop(Section):
    """When a trial ends."""
    training_iteration: Count = Field(description="iterations per trial (an iteration is what the "
                                                  "stream makes it: an epoch, a number of batches, a step)")


class Resources(Section):
    """What Ray reserves for one trial."""
    cpu: Annotated[Number, Field(ge=0)] = Field(1.0, description="CPUs per trial (also torch's threads)")
    gpu: Annotated[Number, Field(ge=0)] = Field(0.0, description="GPUs per trial (a fraction shares one)")

    @model_validator(mode="after")
    def _something(self):
        if self.cpu == self.gpu == 0:
            raise error_at("cpu", "a trial must ask for some CPU or GPU (Ray cannot place a trial that asks "
                                  "for nothing); e.g. cpu: 1")
        return self


class Analysis(Section):
    """How analysis_v1.py plots the run."""
    figure: str = Field(description="the figure function, experiments.<experiment>.<module>:<function> "
                                    "(a function the experiment defines)")


class Document(Section):
    """An experiment YAML: one run of a trainable over a grid of configs."""
    description: str = Field("", description="what the experiment shows")
    figures: list[str] = Field([], description="the paper panels it reproduces")
    trainable: str = Field("supervised", description="a registered trainable (supervised) or an experiment's "
                                                     "own experiments.<experiment>.<module>:<function> with "
                                                     "`schema` and `packable`")
    requires: list[Annotated[str, Field(pattern=REF_PATTERN)]] = Field(
        [], description="configs (<experiment>/<config>) whose runs this one needs: main.py runs each "
                        "first, with this run's profile, unless it has a complete run")
    stop: Stop = Field(description="when a trial ends")
    resources_per_trial: Resources = Field(Resources(), description="what Ray reserves for one trial")
    pack: list[str] = Field([], description="config paths whose values differ between the members of "
                                            "one trial (packable ones only)")
    max_members: Annotated[int, Field(ge=0)] = Field(0, description="split packs larger than this (0: no limit)")
    packs_per_trial: Count = Field(
        1, description="packs (members equal outside `pack`) trained one after another in one Ray trial: "
                       "fewer, larger trials cost less scheduling where every pack is small (a trial "
                       "resumes as a whole)")
    max_grid_points: Count = Field(100_000, description="the most grid points the config may expand to, "
                                                        "counted before they are made (raise it for a larger sweep)")
    report_every: Annotated[int, Field(ge=0)] = Field(0, description="iterations per Tune report (0: automatic)")
    checkpoint_every_s: Optional[Annotated[float, Field(ge=0)]] = Field(
        60.0, description="seconds between checkpoints of a running trial's state, each taken at the end of "
                          "an iteration, so that --resume or a retry continues from there (0: after every "
                          "iteration; null: never, a trial then restarts from its beginning)")
    config: dict[str, Any] = Field(description="the trainable's config; any value may be "
                                               "{grid_search: [...]}, an axis of the grid")
    variants: Optional[list[dict[str, Any]]] = Field(
        None, description="a union of grids: each entry is merged into config, then expanded")
    analysis: Optional[Analysis] = Field(None, description="how analysis_v1.py plots the run")
    profiles: dict[str, dict[str, Any]] = Field(
        {}, description="named partial documents merged over this one with --profile (quick: a smoke run)")
