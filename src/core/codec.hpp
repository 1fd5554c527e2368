#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/request.hpp"
#include "core/task.hpp"

namespace ig::core {

/// Storage encoding of the canonical request and result list (compact JSON). The store keeps
/// these as text so it needs no knowledge of the request's fields.
std::string encode_request(const GenerationRequest& r);
std::optional<GenerationRequest> decode_request(std::string_view json);

std::string encode_results(const std::vector<ResultObject>& results);
std::vector<ResultObject> decode_results(std::string_view json);

/// Number of Unicode code points in valid UTF-8 text.
std::size_t count_code_points(std::string_view utf8);

}  // namespace ig::core
