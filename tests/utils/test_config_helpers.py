from perception_kd.utils.config_helpers import adapt_pipeline

BASE = [dict(type='LoadPointsFromMultiSweeps', sweeps_num=9),
        dict(type='PointsRangeFilter', point_cloud_range=[0, 0, 0, 1, 1, 1]),
        dict(type='ImageAug3D', final_size=(256, 704))]


def test_adapt_pipeline_sets_ranges_and_per_type_keys_on_copies():
    out = adapt_pipeline(BASE, [-5, -5, -1, 5, 5, 1], LoadPointsFromMultiSweeps=dict(sweeps_num=2),
                         ImageAug3D=dict(final_size=(128, 352)))
    assert out == [dict(type='LoadPointsFromMultiSweeps', sweeps_num=2),
                   dict(type='PointsRangeFilter', point_cloud_range=[-5, -5, -1, 5, 5, 1]),
                   dict(type='ImageAug3D', final_size=(128, 352))]
    assert BASE[0]['sweeps_num'] == 9 and BASE[1]['point_cloud_range'] == [0, 0, 0, 1, 1, 1]
    assert adapt_pipeline(BASE) == BASE
