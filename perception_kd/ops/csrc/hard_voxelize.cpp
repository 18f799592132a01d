// Hard voxelization of one float32 CPU point cloud through a cell table.
//
// The semantics of perception_kd.ops.voxelize (and of mmcv / spconv on CPU), bit for bit:
// a point's cell is floor((p - range_min) / voxel_size) per axis in float32; points outside
// the grid are dropped; voxels are numbered by first appearance in the point list; a voxel
// keeps its first max_points points; only the first max_voxels voxels are kept (their later
// points still fill them). Coordinates are (z, y, x).
//
// One pass over the points finds each point's voxel through a cell table (dense for grids
// up to 4M cells, kept per thread and reset only where it was written; hashed above) and
// copies it into its slot; only the unused slots of the voxels made are zeroed afterwards
// (no clearing of the buffer). Built on first use by torch.utils.cpp_extension
// (perception_kd/ops/native.py).
#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <vector>

namespace {

// Grids of at most kDenseMaxCells cells use a dense int32 table (cell -> voxel number, -1
// when empty), kept per thread and reset only where it was written; larger grids an
// open-addressing hash table sized for the points, made per call.
constexpr int64_t kDenseMaxCells = int64_t(1) << 22;
thread_local std::vector<int32_t> dense_table;

struct DenseTable {
  int32_t* table;
  int32_t& at(int64_t cell) { return table[cell]; }
  // clean the cells written by this call for the next one
  void release(const std::vector<int64_t>& cells) {
    for (int64_t cell : cells) table[cell] = -1;
  }
};

struct HashTable {
  std::vector<int64_t> keys;     // cell, -1 when empty
  std::vector<int32_t> values;   // voxel number, -1 when none
  uint64_t mask;
  explicit HashTable(int64_t points) {
    uint64_t size = 16;
    while (size < 2 * static_cast<uint64_t>(points)) size <<= 1;
    keys.assign(size, -1);
    values.assign(size, -1);
    mask = size - 1;
  }
  int32_t& at(int64_t cell) {
    uint64_t i = (static_cast<uint64_t>(cell) * 0x9E3779B97F4A7C15ull) >> 20 & mask;
    while (keys[i] != cell) {
      if (keys[i] < 0) {
        keys[i] = cell;
        break;
      }
      i = (i + 1) & mask;
    }
    return values[i];
  }
  void release(const std::vector<int64_t>&) {}   // made per call
};

}  // namespace

template <typename Table>
std::vector<torch::Tensor> voxelize_into(Table& table, const torch::Tensor& pts,
                                         const float* lower, const float* size,
                                         const int64_t* dims, int64_t max_points,
                                         int64_t max_voxels) {
  const int64_t n = pts.size(0), c = pts.size(1);
  const float* p = pts.data_ptr<float>();
  // One pass: each point into its voxel's next slot, through the cell table. The output
  // is allocated for max_voxels (or N) voxels without clearing; only the unused slots of
  // the voxels made are zeroed, and the result is its first M voxels.
  const int64_t capacity = std::max<int64_t>(std::min<int64_t>(max_voxels, n), 1);
  torch::Tensor buffer = torch::empty({capacity, max_points, c}, pts.options());
  float* out = buffer.data_ptr<float>();
  std::vector<int64_t> voxel_cell;      // cell of each voxel, in numbering order
  std::vector<int32_t> counts;          // points seen per voxel (uncapped)
  voxel_cell.reserve(capacity);
  counts.reserve(capacity);
  const float fx = static_cast<float>(dims[0]), fy = static_cast<float>(dims[1]),
              fz = static_cast<float>(dims[2]);
  for (int64_t i = 0; i < n; ++i) {
    const float* q = p + i * c;
    // floor(d) is in [0, dims) exactly when d is, and then equals d truncated, so no floor
    // is needed; written as a negation so that NaN coordinates are dropped.
    const float x = (q[0] - lower[0]) / size[0];
    const float y = (q[1] - lower[1]) / size[1];
    const float z = (q[2] - lower[2]) / size[2];
    if (!(x >= 0.f && x < fx && y >= 0.f && y < fy && z >= 0.f && z < fz)) continue;
    const int64_t cell = (static_cast<int64_t>(z) * dims[1] + static_cast<int64_t>(y)) * dims[0]
                         + static_cast<int64_t>(x);
    int32_t& entry = table.at(cell);
    int32_t v = entry;
    if (v < 0) {
      if (static_cast<int64_t>(voxel_cell.size()) >= max_voxels) continue;
      v = static_cast<int32_t>(voxel_cell.size());
      entry = v;
      voxel_cell.push_back(cell);
      counts.push_back(0);
    }
    const int32_t slot = counts[v]++;
    if (slot < max_points) {
      float* o = out + (static_cast<int64_t>(v) * max_points + slot) * c;
      for (int64_t k = 0; k < c; ++k) o[k] = q[k];
    }
  }
  const int64_t m = static_cast<int64_t>(voxel_cell.size());
  table.release(voxel_cell);

  torch::Tensor voxels = buffer.narrow(0, 0, m);
  torch::Tensor coords = torch::empty({m, 3}, pts.options().dtype(torch::kInt32));
  torch::Tensor num_points = torch::empty({m}, pts.options().dtype(torch::kInt32));
  int32_t* co = coords.data_ptr<int32_t>();
  int32_t* np = num_points.data_ptr<int32_t>();
  const int64_t plane = dims[0] * dims[1];
  for (int64_t v = 0; v < m; ++v) {
    const int64_t k = std::min<int64_t>(counts[v], max_points);
    np[v] = static_cast<int32_t>(k);
    if (k < max_points) {
      std::memset(out + (v * max_points + k) * c, 0, (max_points - k) * c * sizeof(float));
    }
    const int64_t cell = voxel_cell[v];
    co[3 * v] = static_cast<int32_t>(cell / plane);
    co[3 * v + 1] = static_cast<int32_t>((cell / dims[0]) % dims[1]);
    co[3 * v + 2] = static_cast<int32_t>(cell % dims[0]);
  }
  return {voxels, coords, num_points};
}

std::vector<torch::Tensor> hard_voxelize(const torch::Tensor& points,
                                         const std::vector<double>& voxel_size,
                                         const std::vector<double>& range_min,
                                         const std::vector<int64_t>& grid,
                                         int64_t max_points, int64_t max_voxels) {
  TORCH_CHECK(points.device().is_cpu(), "hard_voxelize: points must be on the CPU");
  TORCH_CHECK(points.scalar_type() == torch::kFloat32, "hard_voxelize: points must be float32");
  TORCH_CHECK(points.dim() == 2 && points.size(1) >= 3, "hard_voxelize: points must be (N, C>=3)");
  TORCH_CHECK(voxel_size.size() == 3 && range_min.size() == 3 && grid.size() == 3,
              "hard_voxelize: voxel_size, range_min and grid need 3 values each");
  TORCH_CHECK(max_points >= 1 && max_voxels >= 1, "hard_voxelize: caps must be >= 1");

  const torch::Tensor pts = points.contiguous();
  const int64_t n = pts.size(0), c = pts.size(1);
  const float* p = pts.data_ptr<float>();
  float lower[3], size[3];
  int64_t dims[3];
  for (int a = 0; a < 3; ++a) {
    lower[a] = static_cast<float>(range_min[a]);      // as torch.tensor(..., float32)
    size[a] = static_cast<float>(voxel_size[a]);
    dims[a] = grid[a];                                  // (x, y, z) cells, from grid_shape
    TORCH_CHECK(dims[a] >= 1, "hard_voxelize: empty grid");
  }
  const int64_t cells = dims[0] * dims[1] * dims[2];
  if (cells <= kDenseMaxCells) {
    if (static_cast<int64_t>(dense_table.size()) < cells) dense_table.assign(cells, -1);
    DenseTable table{dense_table.data()};
    return voxelize_into(table, pts, lower, size, dims, max_points, max_voxels);
  }
  HashTable table(n);
  return voxelize_into(table, pts, lower, size, dims, max_points, max_voxels);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("hard_voxelize", &hard_voxelize, "hard voxelization of a float32 CPU cloud",
        pybind11::arg("points"), pybind11::arg("voxel_size"), pybind11::arg("range_min"),
        pybind11::arg("grid"), pybind11::arg("max_points"),
        pybind11::arg("max_voxels"));
}
