#pragma once

// Private to the admin API (admin.cpp, admin_views.cpp) and the user routes that answer in its
// shapes (GET /v1/usage): the JSON of its objects, its error envelope, and its query
// parameters.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api/http.hpp"
#include "core/error.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "store/store.hpp"

namespace ig::api::admin_common {

/// `{"error":{"code","message","param"}}` with the code's status (401s say WWW-Authenticate).
Response error_response(const core::Error& e);
/// A 400 about `param`.
core::Error bad(std::string message, std::string param = {});
/// A 2xx with `v` as JSON, credits written as plain decimals (4.7, not 4.7E0).
Response ok_json(unsigned status, boost::json::value v);

boost::json::value credits_or_null(std::int64_t micros);
boost::json::object key_json(const store::ApiKey& k);
boost::json::object account_json(const store::Account& a);
/// A task as the admin task list shows it.
boost::json::object task_json(const core::Task& t);

core::Result<boost::json::object> body_object(const Request& req);
/// A positive whole number, or nullopt.
std::optional<std::int64_t> parse_id(std::string_view text);
/// The decoded value of query parameter `name` ("" when absent).
std::string query_param(std::string_view query, std::string_view name);
/// A time given as unix seconds or a UTC date (YYYY-MM-DD), in ms; 0 when empty.
core::Result<std::int64_t> time_param(std::string_view query, std::string_view name);

/// `page` (1..1,000,000, default 1) and `page_size` (1..max, default `size`) of a list.
struct Paging {
  std::int64_t page = 1;
  std::int64_t page_size = 50;
  std::int64_t offset() const { return (page - 1) * page_size; }
};
core::Result<Paging> paging(std::string_view query, std::int64_t size = 50, std::int64_t max = 500);
/// `{"object":"list","data":…,"page","page_size","total"}`.
boost::json::object page_json(boost::json::array data, const Paging& p, std::int64_t total);
/// The same with each of `items` rendered by `to_json`.
template <class Items, class ToJson>
boost::json::object page_json(const Items& items, ToJson to_json, const Paging& p,
                              std::int64_t total) {
  boost::json::array data;
  data.reserve(items.size());
  for (const auto& item : items) {
    data.push_back(to_json(item));
  }
  return page_json(std::move(data), p, total);
}

/// The usage a query asks for: `from` and `to` (unix seconds or dates; by default the 30 days
/// through today), `model`, `group_by` (day, or model, or key when `key_grouping`), and
/// `key_id` when `key_grouping` (the admin API). At most 366 days.
core::Result<store::UsageQuery> usage_query(std::string_view query, std::int64_t now_ms,
                                            bool key_grouping);
/// `{"object":"list","from","to","group_by","data":[{day, tasks, images, credits, and key_id or
/// model}]}`.
boost::json::object usage_json(const store::UsageQuery& q,
                               const std::vector<store::UsageRow>& rows);

}  // namespace ig::api::admin_common
