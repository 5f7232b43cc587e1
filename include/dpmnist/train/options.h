// How every tool declares a number option with Boost.Program_options: the
// value is taken as text and read by parse_number (number.h) when the options
// are notified, so each key's range is stated once, where it is declared, and
// the help shows it. Strings and switches stay plain po::value / bool_switch.
#pragma once

#include <boost/program_options.hpp>
#include <sstream>
#include <string>

#include "dpmnist/core/number.h"

namespace dpmnist {

// Adds --key (or an INI key) that reads into *target within allowed; the help
// line gets "(ALLOWED; default D)" from allowed and *target's current value.
template <class T>
void add_number(boost::program_options::options_description& options, const char* key,
                T* target, Allowed<T> allowed, const std::string& help) {
  std::ostringstream text;
  text << help << " (" << allowed.describe() << "; default " << +*target << ")";
  const std::string name = key;
  // INI keys (section.key) are named as in the file, options as typed.
  const std::string shown = name.find('.') != std::string::npos
                                ? name
                                : "--" + name.substr(0, name.find(','));
  options.add_options()(
      key,
      boost::program_options::value<std::string>()->value_name("N")->notifier(
          [target, allowed, shown](const std::string& value) {
            *target = parse_number<T>(shown, value, allowed);
          }),
      text.str().c_str());
}

}  // namespace dpmnist
