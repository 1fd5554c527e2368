#pragma once

#include <vector>

#include "core/request.hpp"
#include "core/result.hpp"
#include "providers/provider.hpp"

namespace ig::providers {

/// One image to render. The pointers are borrowed for the duration of render_image().
struct RenderInput {
  const core::GenerationRequest* request = nullptr;
  const std::vector<ImageBytes>* references = nullptr;  // nullable: text-to-image
  const ImageBytes* mask = nullptr;                     // nullable; only with references
  int index = 0;                                        // 0..n-1: which of the n images
};

/// Renders one image of exactly request.size in core::effective_output_format(request),
/// deterministically: the same input gives byte-identical output.
///  - no references: a gradient with circles and a band whose colours and positions come
///    from a hash of prompt, aspect ratio, tier, quality and index;
///  - references: the first reference scaled to cover the size (centre crop) and blended with
///    that pattern; PNG and WebP keep its alpha channel, if it has one;
///  - mask (size == reference size == request.size): pixels whose mask alpha is 255 are the
///    reference's pixels unchanged; the others are rendered as above.
/// Blocking (libvips): call it on the blocking pool. Thread-safe. The process must have
/// initialised libvips (VIPS_INIT) beforehand. Never throws.
core::Result<ImageBytes> render_image(const RenderInput& in);

}  // namespace ig::providers
