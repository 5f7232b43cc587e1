// The page's files (web/: index.html, app.js, style.css), compiled into the
// binary at build time so dpmnist-serve needs nothing beside it; or, for
// working on the page, read from a directory on each request. Only these
// names are ever served: a URL never becomes a file path.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dpmnist::serve {

struct Asset {
  std::string_view name;          // "index.html"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view bytes;
};

// Generated at build time from web/ (src/serve/embed_assets.cmake).
std::span<const Asset> embedded_assets();

struct LoadedAsset {
  std::string content_type;
  std::string bytes;
};

// The asset a URL path names ("/" is "/index.html"): read from web_dir when it
// is not empty (the embedded copy when the file is missing there), else the
// embedded copy. nullopt for any other path.
std::optional<LoadedAsset> find_asset(std::string_view url_path, const std::string& web_dir);

}  // namespace dpmnist::serve
