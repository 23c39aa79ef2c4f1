"""An independent reference: one Captum LayerIntegratedGradients run per explained position.

This is the computation the seed's library performs (see shared/docs/reference-semantics.md),
written directly against Captum so nerlens' shared-forward engine can be checked against it.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients


def captum_reference(model, tokenizer, text, positions=None, n_steps=50, layer="word"):
    """Normalised scores and raw attributions/deltas per position, one IG pass each."""
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    length = ids.shape[1]
    position_ids = torch.arange(length)[None]
    with torch.no_grad():
        predicted = torch.softmax(model(ids).logits, -1)[0].argmax(-1)
    if layer == "word":
        baseline = torch.full_like(ids, tokenizer.pad_token_id)
        baseline[0, 0], baseline[0, -1] = ids[0, 0], ids[0, -1]
        module = model.get_input_embeddings()
        inputs, baselines = (ids, position_ids), (baseline, position_ids)
    else:
        module = model.bert.embeddings.position_embeddings
        inputs, baselines = (ids, position_ids), (ids, torch.zeros_like(position_ids))
    normalised, raw, deltas = [], [], []
    for i in range(length) if positions is None else positions:

        def forward(input_ids, pos_ids, i=i):
            logits = model(input_ids=input_ids, position_ids=pos_ids).logits
            return torch.softmax(logits, -1)[:, i, :]

        lig = LayerIntegratedGradients(forward, module)
        attributions, delta = lig.attribute(
            inputs,
            baselines,
            target=int(predicted[i]),
            n_steps=n_steps,
            return_convergence_delta=True,
        )
        summed = attributions.sum(-1)[0].detach()
        raw.append(summed.numpy().astype(np.float64))
        normalised.append((summed / summed.norm()).numpy().astype(np.float64))
        deltas.append(float(delta))
    return np.array(normalised), np.array(raw), np.array(deltas)
