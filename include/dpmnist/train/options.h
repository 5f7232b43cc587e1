// How every tool declares a number or word option with Boost.Program_options:
// the value is taken as text and read when the options are notified (numbers
// by parse_number, number.h; words against their list), so each key's range
// or choices are stated once, where it is declared, and the help shows them.
// Free text and switches stay plain po::value / bool_switch.
#pragma once

#include <array>
#include <boost/program_options.hpp>
#include <sstream>
#include <string>

#include "dpmnist/core/error.h"
#include "dpmnist/core/number.h"

namespace dpmnist {

// Adds --key (or an INI key) that reads into *target within allowed; the help
// line gets "(ALLOWED; default D)" from allowed and *target's current value.
template <class T>
void add_number(boost::program_options::options_description& options, const char* key, T* target,
                Allowed<T> allowed, const std::string& help) {
  std::ostringstream text;
  text << help << " (" << allowed.describe() << "; default " << +*target << ")";
  const std::string name = key;
  // INI keys (section.key) are named as in the file, options as typed.
  const std::string shown =
      name.find('.') != std::string::npos ? name : "--" + name.substr(0, name.find(','));
  options.add_options()(key,
                        boost::program_options::value<std::string>()->value_name("N")->notifier(
                            [target, allowed, shown](const std::string& value) {
                              *target = parse_number<T>(shown, value, allowed);
                            }),
                        text.str().c_str());
}

// A word-valued key: each word and the value it stands for.
template <class E>
struct Choice {
  const char* word;
  E value;
};

// The word of value in choices ("?" if none).
template <class E, std::size_t N>
const char* name_of_choice(E value, const std::array<Choice<E>, N>& choices) {
  for (const Choice<E>& choice : choices) {
    if (choice.value == value) return choice.word;
  }
  return "?";
}

// Adds a word-valued key read into *target; any other word is refused with
// "KEY = 'WORD', expected a, b or c".
template <class E, std::size_t N>
void add_choice(boost::program_options::options_description& options, const char* key, E* target,
                const std::array<Choice<E>, N>& choices, const std::string& help) {
  const std::string name = key;
  options.add_options()(
      key,
      boost::program_options::value<std::string>()->value_name("WORD")->notifier(
          [target, choices, name](const std::string& word) {
            std::string expected;
            for (std::size_t i = 0; i < N; ++i) {
              if (word == choices[i].word) {
                *target = choices[i].value;
                return;
              }
              expected += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(choices[i].word);
            }
            throw Error(concat(name, " = '", word, "', expected ", expected));
          }),
      (help + " (default " + name_of_choice(*target, choices) + ")").c_str());
}

}  // namespace dpmnist
