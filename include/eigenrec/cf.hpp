// eigenrec/cf.hpp: neighbourhood collaborative filtering -- interaction data and
// readers, sparse top-K similarities, ItemCF, UserCF and their evaluation.
#ifndef EIGENREC_CF_HPP
#define EIGENREC_CF_HPP

#include <eigenrec/cf/evaluation.hpp>
#include <eigenrec/cf/interactions.hpp>
#include <eigenrec/cf/item_cf.hpp>
#include <eigenrec/cf/neighbourhood.hpp>
#include <eigenrec/cf/reader.hpp>
#include <eigenrec/cf/similarity.hpp>
#include <eigenrec/cf/user_cf.hpp>

#endif  // EIGENREC_CF_HPP
