"""Text classifier, PyTorch."""

from __future__ import annotations

from models.adapters.torch_adapter import DENSE_T, Dropout, TorchNetwork, nn


class TextClf(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_dim, padding_idx=0,
                                      dtype=dtype)
        self.dropout = Dropout(spec.dropout_rate)
        self.dense1 = nn.Linear(spec.embedding_dim, spec.hidden, dtype=dtype)
        self.dense2 = nn.Linear(spec.hidden, 1, dtype=dtype)

    def forward(self, x):                                       # (n, T) ids, 0 = padding
        e = self.embedding(x)                                   # (n, T, d)
        m = (x != 0).to(e.dtype).unsqueeze(-1)
        pooled = (e * m).sum(1) / m.sum(1).clamp(min=1)         # masked mean, (n, d)
        return self.dense2(self.dense1(self.dropout(pooled)).relu())


class Network(TorchNetwork):
    module = TextClf
    #: nn.Linear stores (out, in): both kernels are transposed; the table is (V, d) as ours.
    LAYOUT = {
        "embedding.embeddings": ("embedding.weight", None),
        "dense1.kernel": ("dense1.weight", DENSE_T),
        "dense1.bias": ("dense1.bias", None),
        "dense2.kernel": ("dense2.weight", DENSE_T),
        "dense2.bias": ("dense2.bias", None),
    }
