"""Module: the base class of every layer and model (torch.nn.Module's design).

Parameters, buffers and submodules are registered by assignment
(`self.fc = nn.Linear(2, 3)`), so `parameters()`, `state_dict()`, `train()`
and `repr()` find them without any bookkeeping in the subclass.
"""
from __future__ import annotations

import os
from collections import OrderedDict, namedtuple
from typing import Callable, Iterator

import numpy as np

import minigrad as mg
from minigrad import dtypes, scope
from minigrad.tensor import Tensor, _make, _check_device

from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class for all layers and models: subclass it, assign layers in __init__, define forward."""

    training: bool

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments - "
                            "Module.__init__ takes none")
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: forward() is not defined - "
                                  "define forward(self, ...) in your Module subclass")

    def __call__(self, *args, **kwargs):
        for hook in self._forward_pre_hooks.values():
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        previous = scope._state.current
        scope._state.current = scope.ModuleCall(id(self), previous)
        try:
            out = self.forward(*args, **kwargs)
        finally:
            scope._state.current = previous
        for hook in self._forward_hooks.values():
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # ---- registration by assignment ----------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called - "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as child "
                                f"module {name!r} (nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as buffer "
                                f"{name!r} (Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        for registry in (self.__dict__, self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent one) under `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: cannot assign {type(param).__name__} as parameter "
                            f"{name!r} (nn.Parameter or None expected)")
        self._check_name(name, "parameter")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is saved in state_dict (if persistent) but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: cannot assign {type(tensor).__name__} as buffer {name!r} "
                            "(Tensor or None expected)")
        self._check_name(name, "buffer")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module under `name`."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def _check_name(self, name: str, kind: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")

    def get_submodule(self, target: str) -> "Module":
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})")
            module = module._modules[part]
        return module

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter {name!r}")
        return module._parameters[name]

    # ---- traversal ------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """(qualified name, module) for this module and every descendant, each module once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(qualified name, parameter) pairs; a parameter shared by two layers appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call fn on every submodule (children first) and on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---- modes ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch norm uses batch statistics) here and below."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Set evaluation mode: train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient (to None by default, as PyTorch)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = _make(np.zeros_like(param.grad.array))

    # ---- dtype ----------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Module":
        """Cast floating-point parameters and buffers to a dtype (in place); 'cpu' is accepted."""
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("memory_format", None)   # a name only: arrays are always C order (runtime.py)
        for arg in args + tuple(kwargs.values()):
            if isinstance(arg, (str, mg.device)):
                _check_device(arg)
            elif isinstance(arg, Tensor):
                dtype = arg.dtype
            elif arg is not None and not isinstance(arg, bool):  # non_blocking=/copy= flags
                dtype = arg
        if dtype is None:
            return self
        dtype = dtypes.to_dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to: nn.Module.to only accepts floating point dtypes, got {dtype}")

        def cast(module):
            for registry in (module._parameters, module._buffers):
                for tensor in registry.values():
                    if tensor is not None and tensor.dtype.kind == "f" and tensor.dtype != dtype:
                        tensor.array = tensor.array.astype(dtype)
                        if tensor.grad is not None:
                            tensor.grad = _make(tensor.grad.array.astype(dtype))
        return self.apply(cast)

    def float(self) -> "Module":
        return self.to(dtypes.float32)

    def double(self) -> "Module":
        return self.to(dtypes.float64)

    def half(self) -> "Module":
        return self.to(dtypes.float16)

    def cpu(self) -> "Module":
        return self

    def cuda(self, device=None) -> "Module":
        _check_device("cuda" if device is None else device, "cuda")

    # ---- state dict -----------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by qualified name (PyTorch's keys), detached."""
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy values (tensors or numpy arrays) into the existing parameters and buffers.

        Values are cast to each parameter's dtype and the parameters stay the
        same objects. Every missing, unexpected and mis-shaped key is reported
        in one error (mis-shaped keys always; missing/unexpected when strict).

        Returns:
            (missing_keys, unexpected_keys).
        """
        if isinstance(state_dict, (str, bytes, os.PathLike)):
            raise TypeError(f"load_state_dict: got the path {state_dict!r}, expected a state dict - "
                            f"load the file first: `model.load_state_dict(mg.load({state_dict!r}))`")
        own = self.state_dict(keep_vars=True)
        given = OrderedDict(state_dict)
        missing = [key for key in own if key not in given]
        unexpected = [key for key in given if key not in own]
        mismatched = []
        for key, target in own.items():
            if key in given:
                value = given[key]
                shape = tuple(np.shape(value.array if isinstance(value, Tensor) else value))
                if shape != tuple(target.shape):
                    mismatched.append(f"size mismatch for {key}: copying a param with shape {shape} from "
                                      f"checkpoint, the shape in current model is {tuple(target.shape)}")
        problems = list(mismatched)
        if strict:
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                problems.insert(len(missing) > 0, "Unexpected key(s) in state_dict: " +
                                ", ".join(f'"{k}"' for k in unexpected))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" +
                               "\n\t".join(problems))
        for key, target in own.items():
            if key not in given:
                continue
            value = given[key]
            array = value.array if isinstance(value, Tensor) else np.asarray(value)
            if array.dtype == object:
                raise TypeError(f"load_state_dict: value for {key} is an object array, expected numbers")
            with target._writing() as memory:
                memory[...] = array.astype(target.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # ---- hooks ----------------------------------------------------------------------
    def register_forward_hook(self, hook):
        """hook(module, inputs, output) after each forward; may return a replacement output."""
        return _RemovableHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook):
        """hook(module, inputs) before each forward; may return replacement inputs."""
        return _RemovableHandle(self._forward_pre_hooks, hook)

    # ---- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its parentheses by repr()."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class _RemovableHandle:
    _next_id = 0

    def __init__(self, hooks: OrderedDict, hook):
        _RemovableHandle._next_id += 1
        self.id = _RemovableHandle._next_id
        self.hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks.pop(self.id, None)
