"""nn: layers, losses and initialisation built from minigrad's ops (torch.nn-style).

No layer here has backward code: every gradient comes from the engine.
"""
from .parameter import Parameter
from .module import Module
from .containers import Sequential, ModuleList, ModuleDict, ParameterList
from . import init, functional
from .linear import Identity, Linear, Bilinear, Flatten, Unflatten
from .normalization import LayerNorm, BatchNorm1d, BatchNorm2d, GroupNorm
from .dropout import Dropout, Dropout1d, Dropout2d, GaussianNoise
from .activation import (ReLU, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, Softplus, Softmax, LogSoftmax,
                         LogSigmoid, Hardtanh, ReLU6, PReLU)
from .conv import (Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d,
                   AdaptiveAvgPool2d, Unfold, Fold)
from .upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from .sparse import Embedding
from .loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, NLLLoss, CrossEntropyLoss, BCELoss,
                   BCEWithLogitsLoss, KLDivLoss, PoissonNLLLoss)
from . import utils
from .rnn import RNNCellBase, RNNCell, GRUCell, LSTMCell, RNNBase, RNN, GRU, LSTM
from .attention import MultiheadAttention
from .transformer import (TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer,
                          TransformerDecoder, Transformer, PositionalEncoding)
from . import modules  # noqa: E402  (PyTorch's class paths, nn.modules.linear.Linear ...: needs the classes above)
from . import parallel  # noqa: E402
from .parallel import DataParallel, DistributedDataParallel  # noqa: E402

from minigrad._missing import missing as _missing  # noqa: E402


def __getattr__(name: str):
    # only names not found above: say plainly that minigrad lacks them (README: where it differs)
    raise _missing("nn.", name)
