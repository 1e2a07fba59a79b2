// eigenrec/metrics.hpp: evaluation metrics (classification, regression, ranking).
#ifndef EIGENREC_METRICS_HPP
#define EIGENREC_METRICS_HPP

#include <eigenrec/metrics/classification.hpp>
#include <eigenrec/metrics/correlation.hpp>
#include <eigenrec/metrics/ranking.hpp>
#include <eigenrec/metrics/regression.hpp>

#endif  // EIGENREC_METRICS_HPP
