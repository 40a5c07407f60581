"""Student code for notebook 02's training step (cd_step); merged into corpus.py."""

_RIGHT = """\
def cd_step_student(model, target, ema, optimizer, loss_fn, x0, target_decay):
    loss = loss_fn(model, target.model, x0)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    target.update(model, target_decay)
    ema.update(model)
    return loss.item()
"""

CORRECT = {"cd_step": _RIGHT}

STUBS = {"cd_step": """\
def cd_step_student(model, target, ema, optimizer, loss_fn, x0, target_decay):
    # YOUR CODE HERE
    return not_done(0.0)
"""}

WRONG = {"cd_step": {
    "ema_before_step": _RIGHT.replace("    optimizer.step()\n    target.update(model, target_decay)\n",
                                      "    target.update(model, target_decay)\n    optimizer.step()\n"),
    "no_zero_grad": _RIGHT.replace("    optimizer.zero_grad()\n", ""),
    "zero_grad_late": _RIGHT.replace("    optimizer.zero_grad()\n    loss.backward()\n",
                                     "    loss.backward()\n    optimizer.zero_grad()\n"),
    "online_as_target": _RIGHT.replace("loss_fn(model, target.model, x0)", "loss_fn(model, model, x0)"),
    "target_trained": _RIGHT.replace("loss_fn(model, target.model, x0)", "loss_fn(target.model, model, x0)"),
    "target_copied": _RIGHT.replace("    target.update(model, target_decay)\n",
                                    "    target.model.load_state_dict(model.state_dict())\n"),
    "decay_reversed": _RIGHT.replace("target.update(model, target_decay)", "target.update(model, 1 - target_decay)"),
    "no_eval_ema": _RIGHT.replace("    ema.update(model)\n", ""),
    "eval_of_target": _RIGHT.replace("ema.update(model)", "ema.update(target.model)"),
    "returns_tensor": _RIGHT.replace("return loss.item()", "return loss"),
    "clipped": _RIGHT.replace("    optimizer.step()\n",
                              "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n    optimizer.step()\n"),
    "no_optimizer_step": _RIGHT.replace("    optimizer.step()\n", ""),
    "no_backward": _RIGHT.replace("    loss.backward()\n", ""),
    "eval_ema_before_step": _RIGHT.replace(
        "    optimizer.step()\n    target.update(model, target_decay)\n    ema.update(model)\n",
        "    ema.update(model)\n    optimizer.step()\n    target.update(model, target_decay)\n"),
    "zero_grad_after_step": _RIGHT.replace("    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n",
                                           "    loss.backward()\n    optimizer.step()\n    optimizer.zero_grad()\n"),
    "fixed_decay": _RIGHT.replace("target.update(model, target_decay)", "target.update(model, 0.95)"),
}}
