"""Output that reads well in a file: plain, complete progress lines; third-party prints held back."""

from __future__ import annotations

from types import SimpleNamespace

from picodet_cli.cli.console import show_path
from picodet_cli.cli.reporting import TrainReporter, captured_stdout, counter


def trainer_at(epoch: int, batch: int, step: int) -> SimpleNamespace:
    state = SimpleNamespace(epoch=epoch, batch_in_epoch=batch, step=step, best_metric=0.1)
    return SimpleNamespace(state=state, cfg=SimpleNamespace(epochs=22), iters_per_epoch=45)


def test_plain_training_lines_one_per_epoch_and_never_cut(capsys):
    values = {"loss": 0.857123, "loss_vfl": 0.5, "loss_bbox": 0.25, "loss_dfl": 0.107, "lr": 0.00123456}
    reporter = TrainReporter(plain=True)
    reporter.start(trainer_at(21, 0, 945), total_steps=990)
    for batch in range(1, 46):
        reporter.step(trainer_at(21, batch, 945 + batch), values)
    reporter.eval(trainer_at(22, 0, 990), {"map": 0.71234, "map50": 0.93456})
    reporter.stop()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "training: 990 steps, 22 epochs"
    epoch_lines = [line for line in lines if line.startswith("epoch 22/22")]
    assert len(epoch_lines) == 1 and "step 990/990" in epoch_lines[0]
    assert "loss 0.857 (vfl 0.500 box 0.250 dfl 0.107) lr 0.001235" in epoch_lines[0]
    assert "…" not in "".join(lines) and "━" not in "".join(lines)
    assert lines[-1] == "epoch 22: mAP 0.7123  mAP50 0.9346  (best mAP 0.7123)"


def test_counter_in_a_file_prints_start_and_end(capsys):
    with counter("evaluating images", 60) as advance:
        advance(60)
    err = capsys.readouterr().err
    assert "evaluating images: 60 ..." in err and "evaluating images: 60 done" in err


def test_third_party_prints_are_held_back(capsys, monkeypatch):
    with captured_stdout():
        print("Collecting tensor data and making histogram ...")
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("PICODET_DEBUG", "1")
    with captured_stdout():
        print("Collecting tensor data and making histogram ...")
    assert "Collecting tensor data" in capsys.readouterr().err


def test_paths_shown_relative_where_shorter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert show_path(tmp_path / "runs" / "demo" / "results.png") == "runs/demo/results.png"
    assert show_path("/etc/hosts") == "/etc/hosts" and show_path(None) == "-"
