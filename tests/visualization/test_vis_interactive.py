"""The interactive window (runs only where a display exists, e.g. under xvfb-run)."""
import numpy as np
import pytest

from perception_kd.visualization import SceneOptions, build_scene
from perception_kd.visualization.interactive import InteractiveViewer, has_display


@pytest.mark.skipif(not has_display(), reason='needs a display (DISPLAY / WAYLAND_DISPLAY)')
def test_keys_step_through_samples(vis_source):
    viewer = InteractiveViewer(lambda i: build_scene(vis_source.load(i), None, SceneOptions()),
                               [0, 1, 2], start=0, width=320, height=240)
    vis = viewer.open()

    def grab():
        vis.poll_events()
        vis.update_renderer()
        return np.asarray(vis.capture_screen_float_buffer(True))

    try:
        first = grab()
        viewer._step(1)(vis)
        second = grab()
        for _ in range(3):                     # stops at the last sample
            viewer._step(1)(vis)
        assert viewer.position == 2
        viewer._step(-1)(vis)
        assert viewer.position == 1 and np.array_equal(grab(), second)
        assert first.max() > 0 and not np.array_equal(first, second)
    finally:
        vis.destroy_window()


def test_no_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.raises(RuntimeError, match='--out DIR'):
        InteractiveViewer(lambda i: None, [0]).open()
