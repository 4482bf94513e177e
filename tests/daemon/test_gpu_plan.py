"""The GPU plan check (pure: device memory in, problems out) and the worker's launcher."""

from daemon.gpu import check_gpu_plan, train_launcher


def test_separate_devices_fit():
    assert check_gpu_plan([0], [1], 0.9, 60, 1, {0: 80.0, 1: 80.0}) == []


def test_shared_device_needs_room_for_training():
    assert check_gpu_plan([0], [0], 0.55, 30, 1, {0: 80.0}) == []
    (msg,) = check_gpu_plan([0], [0], 0.85, 30, 1, {0: 80.0})
    assert "leaving 12.0 GiB" in msg and "<= 0.62" in msg


def test_missing_devices_and_tensor_parallel():
    assert "not visible" in check_gpu_plan([0], [3], 0.5, 10, 1, {0: 80.0})[0]
    assert "tensor_parallel_size 2" in check_gpu_plan([0], [1], 0.5, 10, 2, {0: 80.0, 1: 80.0})[0]


def test_launcher_pins_train_devices():
    one = train_launcher([1])
    assert one[:2] == ["env", "CUDA_VISIBLE_DEVICES=1"]
    two = train_launcher([2, 3])
    assert "CUDA_VISIBLE_DEVICES=2,3" in two and "--num_processes" in two and two[-1] == "2"
