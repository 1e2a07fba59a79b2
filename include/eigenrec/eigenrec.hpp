// eigenrec/eigenrec.hpp: umbrella header, includes every module.
#ifndef EIGENREC_EIGENREC_HPP
#define EIGENREC_EIGENREC_HPP

#include <eigenrec/version.hpp>

#include <eigenrec/attention.hpp>
#include <eigenrec/cf.hpp>
#include <eigenrec/core.hpp>
#include <eigenrec/ctr.hpp>
#include <eigenrec/embedding.hpp>
#include <eigenrec/io.hpp>
#include <eigenrec/metrics.hpp>
#include <eigenrec/nn.hpp>
#include <eigenrec/text.hpp>

#endif  // EIGENREC_EIGENREC_HPP
