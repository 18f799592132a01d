"""tools/dist_train.sh: 2 CPU processes (torchrun + gloo) train the toy task with DDP.

Both ranks must end with identical weights, and 2 ranks x batch 2 must match one process
with batch 4 (DDP averages the gradients of the two halves of each batch).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, TOOLS_TEST_DIR, load_tool, write_toy_config  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason='torch.distributed with gloo is not available')


def test_two_cpu_ranks_hold_identical_weights(tmp_path):
    weights_dir = tmp_path / 'weights'
    hook = dict(type='ToySaveRankWeightsHook', out_dir=str(weights_dir))
    cfg = write_toy_config(tmp_path / 'toy_ddp.py', max_epochs=2, batch_size=2,
                           custom_hooks=[hook])
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(TOOLS_TEST_DIR), str(REPO),
                                           os.environ.get('PYTHONPATH', '')]),
               PYTHONWARNINGS='ignore')
    env.pop('PORT', None)
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), cfg, '2',
         '--work-dir', str(tmp_path / 'run')],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    ranks = [torch.load(weights_dir / f'rank{r}.pth') for r in (0, 1)]
    for saved in ranks:
        assert saved['world_size'] == 2
        assert saved['wrapper'] == 'MMDistributedDataParallel'
        assert saved['iters'] == 8  # 16 samples / (2 ranks x 2) x 2 epochs
    for key, value in ranks[0]['state_dict'].items():
        assert torch.equal(value, ranks[1]['state_dict'][key]), key
    assert (tmp_path / 'run' / 'epoch_2.pth').is_file()  # rank 0 saved checkpoints

    # one process, batch 4 = the union of the two ranks' batches: same weights
    single_hook = dict(type='ToySaveRankWeightsHook', out_dir=str(tmp_path / 'single'))
    single_cfg = write_toy_config(tmp_path / 'toy_single.py', max_epochs=2, batch_size=4,
                                  custom_hooks=[single_hook])
    load_tool('train').main([single_cfg, '--work-dir', str(tmp_path / 'single_run')])
    single = torch.load(tmp_path / 'single' / 'rank0.pth')
    assert single['iters'] == 8
    for key, value in single['state_dict'].items():
        torch.testing.assert_close(ranks[0]['state_dict'][key], value, rtol=1e-5, atol=1e-6)
