#include "dpmnist/serve/assets.h"

#include <fstream>
#include <iterator>

namespace dpmnist::serve {

std::optional<LoadedAsset> find_asset(std::string_view url_path, const std::string& web_dir) {
  if (url_path == "/") url_path = "/index.html";
  if (url_path.empty() || url_path.front() != '/') return std::nullopt;
  const std::string_view name = url_path.substr(1);
  for (const Asset& asset : embedded_assets()) {
    if (asset.name != name) continue;
    LoadedAsset loaded{std::string(asset.content_type), std::string(asset.bytes)};
    if (!web_dir.empty()) {
      // The name comes from the table above, never from the URL.
      std::ifstream file(web_dir + "/" + std::string(asset.name), std::ios::binary);
      if (file) {
        loaded.bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
      }
    }
    return loaded;
  }
  return std::nullopt;
}

}  // namespace dpmnist::serve
