"""BERT, PyTorch: our own ``nn.Module``s (not transformers' classes), laid out and named
as Hugging Face's so that ``state_dict()`` keys ARE the canonical keys and ``LAYOUT`` is
the identity for every one of them (torch's (out, in) is the canonical layout here).

The decoder of the masked-LM head is tied as torch users tie it: its ``weight`` is the
word embeddings' Parameter and its ``bias`` the head's ``bias`` Parameter, so autograd sums
both uses into one ``.grad``, ``named_parameters()`` lists each once (under the source's
name) and the optimizer steps it once; ``state_dict()`` still lists both names.
"""

from __future__ import annotations

from models.adapters.torch_adapter import Dropout, TorchNetwork, nn, torch
from models.bert.common import BertOutputs

F = torch.nn.functional


class Embeddings(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        H = spec.hidden_size
        self.word_embeddings = nn.Embedding(spec.vocab_size, H, padding_idx=spec.pad_token_id,
                                            dtype=dtype)
        self.position_embeddings = nn.Embedding(spec.max_position_embeddings, H, dtype=dtype)
        self.token_type_embeddings = nn.Embedding(spec.type_vocab_size, H, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(H, eps=spec.layer_norm_eps, dtype=dtype)
        self.dropout = Dropout(spec.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):                # (n, T) each
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(positions)[None]          # (n, T, H)
        return self.dropout(self.LayerNorm(e))


class SelfAttention(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        H = spec.hidden_size
        self.heads, self.head_size = spec.num_attention_heads, spec.head_size
        self.query = nn.Linear(H, H, dtype=dtype)
        self.key = nn.Linear(H, H, dtype=dtype)
        self.value = nn.Linear(H, H, dtype=dtype)
        self.dropout = Dropout(spec.attention_probs_dropout_prob)

    def forward(self, x, bias):                                    # (n, T, H), (n, 1, 1, T)
        n, T, _ = x.shape

        def split(t):                                              # (n, h, T, dh)
            return t.view(n, T, self.heads, self.head_size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(2, 3)) * self.head_size ** -0.5 + bias
        probs = self.dropout(F.softmax(scores, dim=-1))            # (n, h, T, T)
        return torch.matmul(probs, v).transpose(1, 2).reshape(n, T, -1)


class SelfOutput(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense = nn.Linear(spec.hidden_size, spec.hidden_size, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(spec.hidden_size, eps=spec.layer_norm_eps, dtype=dtype)
        self.dropout = Dropout(spec.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.self = SelfAttention(spec, dtype=dtype)
        self.output = SelfOutput(spec, dtype=dtype)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense = nn.Linear(spec.hidden_size, spec.intermediate_size, dtype=dtype)

    def forward(self, x):
        return F.gelu(self.dense(x))                               # exact (erf) GELU


class Output(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense = nn.Linear(spec.intermediate_size, spec.hidden_size, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(spec.hidden_size, eps=spec.layer_norm_eps, dtype=dtype)
        self.dropout = Dropout(spec.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Layer(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.attention = Attention(spec, dtype=dtype)
        self.intermediate = Intermediate(spec, dtype=dtype)
        self.output = Output(spec, dtype=dtype)

    def forward(self, x, bias):
        y = self.attention(x, bias)
        return self.output(self.intermediate(y), y)


class Encoder(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.layer = nn.ModuleList(Layer(spec, dtype=dtype)
                                   for _ in range(spec.num_hidden_layers))

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense = nn.Linear(spec.hidden_size, spec.hidden_size, dtype=dtype)

    def forward(self, h):                                          # (n, T, H) -> (n, H)
        return torch.tanh(self.dense(h[:, 0]))


class Bert(nn.Module):
    """The encoder (BertModel): ``(last_hidden_state, pooler_output or None)``."""

    def __init__(self, spec, *, dtype):
        super().__init__()
        self.embeddings = Embeddings(spec, dtype=dtype)
        self.encoder = Encoder(spec, dtype=dtype)
        self.pooler = Pooler(spec, dtype=dtype) if spec.pooler else None

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # the additive key mask of transformers' eager attention: 0 keep, finfo.min padding
        bias = torch.zeros(attention_mask.shape, dtype=x.dtype,
                           device=attention_mask.device).masked_fill(
            attention_mask == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        h = self.encoder(x, bias)
        return h, (self.pooler(h) if self.pooler is not None else None)


class HeadTransform(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.dense = nn.Linear(spec.hidden_size, spec.hidden_size, dtype=dtype)
        self.LayerNorm = nn.LayerNorm(spec.hidden_size, eps=spec.layer_norm_eps, dtype=dtype)

    def forward(self, h):
        return self.LayerNorm(F.gelu(self.dense(h)))


class LMPredictionHead(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(spec.vocab_size, dtype=dtype))
        self.transform = HeadTransform(spec, dtype=dtype)
        self.decoder = nn.Linear(spec.hidden_size, spec.vocab_size, dtype=dtype)
        self.decoder.bias = self.bias                              # tied: one Parameter

    def forward(self, h):
        return self.decoder(self.transform(h))                     # (n, T, V)


class MLMHead(nn.Module):
    def __init__(self, spec, *, dtype):
        super().__init__()
        self.predictions = LMPredictionHead(spec, dtype=dtype)

    def forward(self, h):
        return self.predictions(h)


class BertMLM(nn.Module):
    """BertForMaskedLM: the encoder (no pooler) and the masked-LM head, its decoder
    weight tied to the word embeddings."""

    def __init__(self, spec, *, dtype):
        super().__init__()
        self.bert = Bert(spec, dtype=dtype)
        self.cls = MLMHead(spec, dtype=dtype)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.cls(self.bert(input_ids, attention_mask, token_type_ids)[0])


class BertCls(nn.Module):
    """BertForSequenceClassification: the encoder with its pooler, dropout, a classifier."""

    def __init__(self, spec, *, dtype):
        super().__init__()
        self.bert = Bert(spec, dtype=dtype)
        self.dropout = Dropout(spec.classifier_rate())
        self.classifier = nn.Linear(spec.hidden_size, spec.num_labels, dtype=dtype)

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.dropout(self.bert(input_ids, attention_mask,
                                                      token_type_ids)[1]))


def build(spec, *, dtype):
    return (BertMLM if spec.head == "mlm" else BertCls)(spec, dtype=dtype)


class Network(BertOutputs, TorchNetwork):
    module = staticmethod(build)

    def __init__(self, spec):
        super().__init__(spec)
        #: state_dict names are the canonical names; no transposes (torch's (out, in) is ours)
        self.LAYOUT = {k: (k, None) for k in spec.param_shapes()}

    def _encode(self, params, batch):
        module = self._load(params)
        inputs, _, _ = self.tensors({k: batch[k] for k in self.spec.inputs()}, None)
        module.eval()
        with torch.no_grad():
            h, pooled = module.bert(*inputs)
        out = {"last_hidden_state": h.cpu().numpy()}
        if pooled is not None:
            out["pooler_output"] = pooled.cpu().numpy()
        return out

