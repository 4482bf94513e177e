"""Hand-written definitions of the starter problem set (trusted source, read at build time).

Each definition gives the statement, the test inputs, a reference solution and a plausibly
wrong one. Expected outputs are NOT written here: ``scripts/build_starter_set.py`` computes them
by running the reference, so tests can never disagree with it. Numbering follows definition
order, so append new problems at the end of their section to keep existing ids stable.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["call", "stdio", "assert"]


@dataclass(frozen=True)
class StarterDef:
    slug: str
    kind: Kind
    difficulty: Literal["easy", "medium"]
    statement: str
    reference: str
    wrong: str
    # call/assert: one list of positional arguments per case; stdio: one stdin text per case.
    cases: tuple[Any, ...]
    # call/assert: the ``def`` line; with ``method`` it is a method of class ``Solution``.
    signature: str | None = None
    method: bool = False


DEFS: list[StarterDef] = []


def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


def _text(text: str) -> str:
    return textwrap.dedent(text).strip()


def _add(kind: Kind, slug: str, difficulty: str, statement: str, reference: str, wrong: str,
         cases: list, signature: str | None = None, method: bool = False) -> None:
    DEFS.append(StarterDef(
        slug=slug, kind=kind, difficulty=difficulty,  # type: ignore[arg-type]
        statement=_text(statement), reference=_src(reference), wrong=_src(wrong),
        cases=tuple(cases), signature=signature, method=method,
    ))


def call(slug, difficulty, signature, statement, reference, wrong, cases, method=False):
    _add("call", slug, difficulty, statement, reference, wrong, cases, signature, method)


def stdio(slug, difficulty, statement, reference, wrong, cases):
    _add("stdio", slug, difficulty, statement, reference, wrong, cases)


def asserted(slug, difficulty, signature, statement, reference, wrong, cases):
    _add("assert", slug, difficulty, statement, reference, wrong, cases, signature)


# ---------------------------------------------------------------------------------------------
# call: the judge calls the function with JSON arguments and compares the JSON of the result.
# ---------------------------------------------------------------------------------------------

call("sum-list", "easy", "def sum_list(nums: list[int]) -> int:",
     "Return the sum of all integers in the list `nums`. The sum of an empty list is 0.",
     """
     def sum_list(nums):
         total = 0
         for x in nums:
             total += x
         return total
     """,
     """
     def sum_list(nums):
         total = 0
         for i in range(1, len(nums)):
             total += nums[i]
         return total
     """,
     [[[1, 2, 3]], [[]], [[5]], [[-1, -2, 3]], [[10, 20, 30, 40]], [[0, 0, 0]], [[100, -100]]])

call("max-of-list", "easy", "def max_of_list(nums: list[int]) -> int:",
     "Return the largest integer in the non-empty list `nums` (numbers may be negative).",
     """
     def max_of_list(nums):
         best = nums[0]
         for x in nums[1:]:
             if x > best:
                 best = x
         return best
     """,
     """
     def max_of_list(nums):
         best = 0
         for x in nums:
             if x > best:
                 best = x
         return best
     """,
     [[[1, 5, 3]], [[7]], [[-3, -1, -7]], [[2, 2, 2]], [[0, -1]], [[-5]], [[10, 9, 11, 3]]])

call("count-vowels", "easy", "def count_vowels(s: str) -> int:",
     "Return how many vowels (a, e, i, o, u, in either upper or lower case) the string `s` "
     "contains.",
     """
     def count_vowels(s):
         return sum(1 for c in s if c.lower() in "aeiou")
     """,
     """
     def count_vowels(s):
         return sum(1 for c in s if c in "aeiou")
     """,
     [["hello"], [""], ["AEIOU"], ["rhythm"], ["Programming Is Fun"], ["aAbBeE"], ["xyz"]])

call("reverse-string", "easy", "def reverse_string(s: str) -> str:",
     "Return the string `s` reversed.",
     """
     def reverse_string(s):
         return s[::-1]
     """,
     """
     def reverse_string(s):
         return s[-1:0:-1]
     """,
     [["hello"], [""], ["a"], ["ab"], ["racecar"], ["Hello, World!"], ["12345"]])

call("is-palindrome", "easy", "def is_palindrome(s: str) -> bool:",
     "Return True if the string `s` reads the same forwards and backwards when upper and lower "
     "case letters are treated as equal, otherwise False. Every character counts (spaces "
     "too).",
     """
     def is_palindrome(s):
         t = s.lower()
         return t == t[::-1]
     """,
     """
     def is_palindrome(s):
         return s == s[::-1]
     """,
     [["racecar"], ["Racecar"], ["hello"], [""], ["a"], ["Abba"], ["ab"], ["Noon"]])

call("factorial", "easy", "def factorial(n: int) -> int:",
     "Return n! (the product 1 * 2 * ... * n) for an integer n >= 0. By definition 0! = 1.",
     """
     def factorial(n):
         result = 1
         for i in range(2, n + 1):
             result *= i
         return result
     """,
     """
     def factorial(n):
         result = 1
         for i in range(2, n):
             result *= i
         return result
     """,
     [[0], [1], [2], [3], [5], [10], [15]])

call("fibonacci", "easy", "def fibonacci(n: int) -> int:",
     "Return the n-th Fibonacci number, where fibonacci(0) = 0, fibonacci(1) = 1 and each "
     "later number is the sum of the two before it. n >= 0.",
     """
     def fibonacci(n):
         a, b = 0, 1
         for _ in range(n):
             a, b = b, a + b
         return a
     """,
     """
     def fibonacci(n):
         a, b = 0, 1
         for _ in range(n):
             a, b = b, a + b
         return b
     """,
     [[0], [1], [2], [3], [10], [20], [30]])

call("gcd", "easy", "def gcd(a: int, b: int) -> int:",
     "Return the greatest common divisor of two non-negative integers `a` and `b`. "
     "gcd(x, 0) = x and gcd(0, 0) = 0.",
     """
     def gcd(a, b):
         while b:
             a, b = b, a % b
         return a
     """,
     """
     def gcd(a, b):
         for d in range(min(a, b), 0, -1):
             if a % d == 0 and b % d == 0:
                 return d
         return 1
     """,
     [[12, 18], [7, 5], [100, 10], [0, 9], [9, 0], [0, 0], [48, 36], [17, 17]])

call("lcm", "easy", "def lcm(a: int, b: int) -> int:",
     "Return the least common multiple of two positive integers `a` and `b`.",
     """
     def lcm(a, b):
         x, y = a, b
         while y:
             x, y = y, x % y
         return a * b // x
     """,
     """
     def lcm(a, b):
         return a * b
     """,
     [[3, 5], [4, 6], [1, 1], [7, 7], [12, 18], [2, 9], [10, 15]])

call("is-prime", "easy", "def is_prime(n: int) -> bool:",
     "Return True if the integer `n` is a prime number, otherwise False. Numbers below 2 are "
     "not prime.",
     """
     def is_prime(n):
         if n < 2:
             return False
         i = 2
         while i * i <= n:
             if n % i == 0:
                 return False
             i += 1
         return True
     """,
     """
     def is_prime(n):
         if n < 2:
             return False
         for i in range(2, int(n ** 0.5)):
             if n % i == 0:
                 return False
         return True
     """,
     [[2], [3], [4], [9], [25], [1], [0], [-7], [97], [49]])

call("count-words", "easy", "def count_words(s: str) -> int:",
     "Return the number of words in `s`. Words are separated by one or more whitespace "
     "characters; leading and trailing whitespace does not create words.",
     """
     def count_words(s):
         return len(s.split())
     """,
     """
     def count_words(s):
         return s.count(" ") + 1
     """,
     [["hello world"], ["one"], [""], ["  many   spaces here "], ["a b c d"], ["   "],
      ["tab\\tseparated words"]])

call("second-largest", "easy", "def second_largest(nums: list[int]):",
     "Return the second largest DISTINCT value in `nums`, or None if there are fewer than two "
     "distinct values.",
     """
     def second_largest(nums):
         values = sorted(set(nums))
         if len(values) < 2:
             return None
         return values[-2]
     """,
     """
     def second_largest(nums):
         if len(nums) < 2:
             return None
         return sorted(nums)[-2]
     """,
     [[[1, 2, 3]], [[5, 5, 4]], [[7]], [[]], [[3, 3]], [[-1, -2, -3]], [[10, 20, 20, 5]]])

call("remove-duplicates", "easy", "def remove_duplicates(nums: list[int]) -> list[int]:",
     "Return a new list with the duplicates removed from `nums`, keeping the first occurrence "
     "of each value and the original order.",
     """
     def remove_duplicates(nums):
         seen = set()
         out = []
         for x in nums:
             if x not in seen:
                 seen.add(x)
                 out.append(x)
         return out
     """,
     """
     def remove_duplicates(nums):
         return sorted(set(nums))
     """,
     [[[1, 2, 2, 3]], [[]], [[3, 1, 3, 2, 1]], [[5, 5, 5]], [[1, 2, 3]], [[9, -1, 9, 0]]])

call("char-frequency", "easy", "def char_frequency(s: str) -> dict[str, int]:",
     "Return a dictionary mapping each character of `s` to the number of times it occurs. "
     "Characters are case-sensitive ('a' and 'A' are different).",
     """
     def char_frequency(s):
         counts = {}
         for c in s:
             counts[c] = counts.get(c, 0) + 1
         return counts
     """,
     """
     def char_frequency(s):
         counts = {}
         for c in s.lower():
             counts[c] = counts.get(c, 0) + 1
         return counts
     """,
     [["hello"], [""], ["aaa"], ["AaBb"], ["a b a"], ["Mississippi"]])

call("fizzbuzz", "easy", "def fizzbuzz(n: int) -> list[str]:",
     "Return a list of strings for the numbers 1 to n inclusive: 'FizzBuzz' for multiples of "
     "both 3 and 5, 'Fizz' for multiples of 3, 'Buzz' for multiples of 5, otherwise the "
     "number itself as a string.",
     """
     def fizzbuzz(n):
         out = []
         for i in range(1, n + 1):
             if i % 15 == 0:
                 out.append("FizzBuzz")
             elif i % 3 == 0:
                 out.append("Fizz")
             elif i % 5 == 0:
                 out.append("Buzz")
             else:
                 out.append(str(i))
         return out
     """,
     """
     def fizzbuzz(n):
         out = []
         for i in range(1, n + 1):
             if i % 3 == 0:
                 out.append("Fizz")
             elif i % 5 == 0:
                 out.append("Buzz")
             elif i % 15 == 0:
                 out.append("FizzBuzz")
             else:
                 out.append(str(i))
         return out
     """,
     [[1], [3], [5], [15], [0], [16], [30]])

call("binary-search", "easy", "def binary_search(nums: list[int], target: int) -> int:",
     "`nums` is sorted in increasing order and has no duplicates. Return the index of "
     "`target` in `nums`, or -1 if it is not present.",
     """
     def binary_search(nums, target):
         lo, hi = 0, len(nums) - 1
         while lo <= hi:
             mid = (lo + hi) // 2
             if nums[mid] == target:
                 return mid
             if nums[mid] < target:
                 lo = mid + 1
             else:
                 hi = mid - 1
         return -1
     """,
     """
     def binary_search(nums, target):
         lo, hi = 0, len(nums) - 1
         while lo < hi:
             mid = (lo + hi) // 2
             if nums[mid] == target:
                 return mid
             if nums[mid] < target:
                 lo = mid + 1
             else:
                 hi = mid - 1
         return -1
     """,
     [[[1, 3, 5, 7, 9], 7], [[1, 3, 5, 7, 9], 9], [[1, 3, 5, 7, 9], 4], [[], 1], [[5], 5],
      [[2, 4], 4], [[-5, 0, 5], -5]])

call("run-length-encode", "easy", "def run_length_encode(s: str) -> str:",
     "Run-length encode `s`: replace each maximal run of equal characters by the character "
     "followed by the run length, e.g. 'aaabcc' becomes 'a3b1c2'. The empty string encodes "
     "to the empty string.",
     """
     def run_length_encode(s):
         out = []
         i = 0
         while i < len(s):
             j = i
             while j < len(s) and s[j] == s[i]:
                 j += 1
             out.append(s[i] + str(j - i))
             i = j
         return "".join(out)
     """,
     """
     def run_length_encode(s):
         out = []
         count = 1
         for i in range(1, len(s)):
             if s[i] == s[i - 1]:
                 count += 1
             else:
                 out.append(s[i - 1] + str(count))
                 count = 1
         return "".join(out)
     """,
     [["aaabcc"], [""], ["a"], ["abc"], ["zzzzzzzzzzzz"], ["aabbaa"]])

call("matrix-transpose", "easy", "def transpose(matrix: list[list[int]]) -> list[list[int]]:",
     "Return the transpose of `matrix` (a non-empty list of equal-length non-empty rows): "
     "row i of the result is column i of the input.",
     """
     def transpose(matrix):
         return [[row[c] for row in matrix] for c in range(len(matrix[0]))]
     """,
     """
     def transpose(matrix):
         n = len(matrix)
         return [[matrix[r][c] for r in range(n)] for c in range(n)]
     """,
     [[[[1, 2], [3, 4]]], [[[1, 2, 3]]], [[[1], [2], [3]]], [[[5]]],
      [[[1, 2, 3], [4, 5, 6]]]])

call("balanced-brackets", "easy", "def is_balanced(s: str) -> bool:",
     "`s` contains only the characters ()[]{}. Return True if every bracket is closed by the "
     "matching bracket in the right order, otherwise False. The empty string is balanced.",
     """
     def is_balanced(s):
         pairs = {")": "(", "]": "[", "}": "{"}
         stack = []
         for c in s:
             if c in "([{":
                 stack.append(c)
             elif not stack or stack.pop() != pairs[c]:
                 return False
         return not stack
     """,
     """
     def is_balanced(s):
         return (s.count("(") == s.count(")") and s.count("[") == s.count("]")
                 and s.count("{") == s.count("}"))
     """,
     [["()"], ["([]{})"], [""], ["(]"], ["([)]"], ["(("], [")("], ["{[()()]}"]])

call("anagram-groups", "medium", "def group_anagrams(words: list[str]) -> list[list[str]]:",
     "Group the words that are anagrams of each other (same letters, same counts). Return the "
     "groups ordered by the position of their first word in `words`; inside a group keep the "
     "words in their original order.",
     """
     def group_anagrams(words):
         groups = {}
         order = []
         for w in words:
             key = "".join(sorted(w))
             if key not in groups:
                 groups[key] = []
                 order.append(key)
             groups[key].append(w)
         return [groups[k] for k in order]
     """,
     """
     def group_anagrams(words):
         groups = {}
         for w in words:
             groups.setdefault("".join(sorted(w)), []).append(w)
         return [groups[k] for k in sorted(groups)]
     """,
     [[["eat", "tea", "tan", "ate", "nat", "bat"]], [[]], [["a"]], [["abc", "bca", "cab"]],
      [["zz", "aa", "zz"]], [["listen", "silent", "enlist", "google"]]])

call("flatten", "medium", "def flatten(nested: list) -> list:",
     "`nested` is a list whose elements are integers or (arbitrarily deeply) nested lists of "
     "the same kind. Return a flat list of all integers in left-to-right order.",
     """
     def flatten(nested):
         out = []
         for x in nested:
             if isinstance(x, list):
                 out.extend(flatten(x))
             else:
                 out.append(x)
         return out
     """,
     """
     def flatten(nested):
         out = []
         for x in nested:
             if isinstance(x, list):
                 out.extend(x)
             else:
                 out.append(x)
         return out
     """,
     [[[1, [2, 3], 4]], [[]], [[[[]]]], [[1, [2, [3, [4]]]]], [[[1, 2], [3]]], [[5]]])

call("digit-sum", "easy", "def digit_sum(n: int) -> int:",
     "Return the sum of the decimal digits of the integer `n`. The sign is ignored, so "
     "digit_sum(-123) = 6.",
     """
     def digit_sum(n):
         return sum(int(c) for c in str(abs(n)))
     """,
     """
     def digit_sum(n):
         return sum(int(c) for c in str(n))
     """,
     [[123], [0], [-123], [9], [1000], [99999], [-5]])

call("capitalize-words", "easy", "def capitalize_words(s: str) -> str:",
     "Return `s` with the first character of every space-separated word converted to upper "
     "case. All other characters stay exactly as they are (do not lower-case anything). "
     "Spaces are kept as they are.",
     """
     def capitalize_words(s):
         return " ".join(w[:1].upper() + w[1:] for w in s.split(" "))
     """,
     """
     def capitalize_words(s):
         return s.title()
     """,
     [["hello world"], [""], ["hELLO"], ["it's fine"], ["a  b"], ["already Done"]])

call("merge-sorted", "easy", "def merge_sorted(a: list[int], b: list[int]) -> list[int]:",
     "`a` and `b` are each sorted in non-decreasing order. Return one sorted list containing "
     "all elements of both, without using sort().",
     """
     def merge_sorted(a, b):
         i = j = 0
         out = []
         while i < len(a) and j < len(b):
             if a[i] <= b[j]:
                 out.append(a[i])
                 i += 1
             else:
                 out.append(b[j])
                 j += 1
         return out + a[i:] + b[j:]
     """,
     """
     def merge_sorted(a, b):
         i = j = 0
         out = []
         while i < len(a) and j < len(b):
             if a[i] <= b[j]:
                 out.append(a[i])
                 i += 1
             else:
                 out.append(b[j])
                 j += 1
         return out
     """,
     [[[1, 3, 5], [2, 4, 6]], [[], [1, 2]], [[1, 2], []], [[], []], [[1, 1], [1]],
      [[1, 2, 3], [10, 20]]])

call("rotate-right", "easy", "def rotate_right(nums: list[int], k: int) -> list[int]:",
     "Return a new list with the elements of `nums` rotated right by `k` positions (k >= 0, "
     "k may exceed the length). Rotating [1, 2, 3] by 1 gives [3, 1, 2]. An empty list stays "
     "empty.",
     """
     def rotate_right(nums, k):
         if not nums:
             return []
         k %= len(nums)
         return nums[len(nums) - k:] + nums[:len(nums) - k]
     """,
     """
     def rotate_right(nums, k):
         if not nums:
             return []
         return nums[len(nums) - k:] + nums[:len(nums) - k]
     """,
     [[[1, 2, 3], 1], [[1, 2, 3], 0], [[1, 2, 3, 4, 5], 2], [[], 3], [[1, 2, 3], 3],
      [[1, 2, 3], 4], [[7], 10], [[1, 2, 3], 7]])

call("chunk-list", "easy", "def chunk(nums: list[int], size: int) -> list[list[int]]:",
     "Split `nums` into consecutive chunks of length `size` (size >= 1). The last chunk may be "
     "shorter. An empty list gives no chunks.",
     """
     def chunk(nums, size):
         return [nums[i:i + size] for i in range(0, len(nums), size)]
     """,
     """
     def chunk(nums, size):
         return [nums[i:i + size] for i in range(0, len(nums) - size + 1, size)]
     """,
     [[[1, 2, 3, 4], 2], [[1, 2, 3, 4, 5], 2], [[], 3], [[1, 2], 5], [[1, 2, 3], 1],
      [[1, 2, 3, 4, 5, 6, 7], 3]])

call("is-sorted", "easy", "def is_sorted(nums: list[int]) -> bool:",
     "Return True if `nums` is sorted in non-decreasing order (equal neighbours are allowed), "
     "otherwise False. Empty and one-element lists are sorted.",
     """
     def is_sorted(nums):
         return all(nums[i] <= nums[i + 1] for i in range(len(nums) - 1))
     """,
     """
     def is_sorted(nums):
         return all(nums[i] < nums[i + 1] for i in range(len(nums) - 1))
     """,
     [[[1, 2, 3]], [[1, 1, 2]], [[3, 2]], [[]], [[5]], [[1, 3, 2]], [[2, 2, 2]]])

call("missing-number", "easy", "def missing_number(nums: list[int]) -> int:",
     "`nums` contains n distinct numbers taken from 0, 1, ..., n (so exactly one number of "
     "that range is missing). Return the missing number.",
     """
     def missing_number(nums):
         n = len(nums)
         return n * (n + 1) // 2 - sum(nums)
     """,
     """
     def missing_number(nums):
         n = len(nums)
         return n * (n - 1) // 2 - sum(nums)
     """,
     [[[3, 0, 1]], [[0, 1]], [[1]], [[0]], [[]], [[9, 6, 4, 2, 3, 5, 7, 0, 1]]])

call("two-sum", "easy", "def two_sum(self, nums: list[int], target: int) -> list[int]:",
     "Given `nums` and `target`, return the indices [i, j] with i < j of the two different "
     "positions whose values add up to `target`. Exactly one such pair exists.",
     """
     class Solution:
         def two_sum(self, nums, target):
             seen = {}
             for j, x in enumerate(nums):
                 if target - x in seen:
                     return [seen[target - x], j]
                 seen[x] = j
     """,
     """
     class Solution:
         def two_sum(self, nums, target):
             for i in range(len(nums)):
                 for j in range(i, len(nums)):
                     if nums[i] + nums[j] == target:
                         return [i, j]
     """,
     [[[2, 7, 11, 15], 9], [[3, 2, 4], 6], [[3, 3], 6], [[1, 5, 2, 8], 10], [[0, 4, 3, 0], 0],
      [[-1, -2, -3, -4], -7]],
     method=True)

call("roman-to-int", "medium", "def roman_to_int(s: str) -> int:",
     "Convert the Roman numeral `s` (1 to 3999, standard subtractive form such as IV, IX, XL, "
     "XC, CD, CM) to an integer.",
     """
     def roman_to_int(s):
         values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
         total = 0
         for i, c in enumerate(s):
             v = values[c]
             if i + 1 < len(s) and values[s[i + 1]] > v:
                 total -= v
             else:
                 total += v
         return total
     """,
     """
     def roman_to_int(s):
         values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
         return sum(values[c] for c in s)
     """,
     [["III"], ["IV"], ["IX"], ["LVIII"], ["MCMXCIV"], ["MMMCMXCIX"], ["XL"]])

call("int-to-roman", "medium", "def int_to_roman(n: int) -> str:",
     "Convert the integer `n` (1 <= n <= 3999) to a Roman numeral in standard form (using "
     "the subtractive pairs IV, IX, XL, XC, CD, CM).",
     """
     def int_to_roman(n):
         table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                  (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
         out = []
         for value, sym in table:
             while n >= value:
                 out.append(sym)
                 n -= value
         return "".join(out)
     """,
     """
     def int_to_roman(n):
         table = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]
         out = []
         for value, sym in table:
             while n >= value:
                 out.append(sym)
                 n -= value
         return "".join(out)
     """,
     [[1], [3], [4], [9], [58], [1994], [3999], [2023]])

call("to-binary", "easy", "def to_binary(n: int) -> str:",
     "Return the binary representation of the integer n >= 0 as a string of 0s and 1s "
     "without prefix or leading zeros. to_binary(0) is '0'.",
     """
     def to_binary(n):
         return bin(n)[2:]
     """,
     """
     def to_binary(n):
         out = ""
         while n > 0:
             out = str(n % 2) + out
             n //= 2
         return out
     """,
     [[5], [0], [1], [2], [255], [1024], [7]])

call("longest-common-prefix", "easy", "def longest_common_prefix(strs: list[str]) -> str:",
     "Return the longest string that is a prefix of every string in `strs`. Return '' if "
     "`strs` is empty or there is no common prefix.",
     """
     def longest_common_prefix(strs):
         if not strs:
             return ""
         prefix = strs[0]
         for s in strs[1:]:
             while not s.startswith(prefix):
                 prefix = prefix[:-1]
         return prefix
     """,
     """
     def longest_common_prefix(strs):
         if not strs:
             return ""
         first = strs[0]
         for i in range(len(first) - 1):
             for s in strs[1:]:
                 if i >= len(s) or s[i] != first[i]:
                     return first[:i]
         return first[:-1]
     """,
     [[["flower", "flow", "flight"]], [["dog", "racecar", "car"]], [[]], [["alone"]],
      [["same", "same"]], [["ab", "a"]], [["", "x"]]])

call("count-primes-below", "easy", "def count_primes_below(n: int) -> int:",
     "Return how many prime numbers are strictly less than `n` (n >= 0).",
     """
     def count_primes_below(n):
         if n < 3:
             return 0
         sieve = [True] * n
         sieve[0] = sieve[1] = False
         for i in range(2, int(n ** 0.5) + 1):
             if sieve[i]:
                 for j in range(i * i, n, i):
                     sieve[j] = False
         return sum(sieve)
     """,
     """
     def count_primes_below(n):
         count = 0
         for k in range(2, n + 1):
             if all(k % d for d in range(2, int(k ** 0.5) + 1)):
                 count += 1
         return count
     """,
     [[10], [0], [2], [3], [11], [100], [13]])

call("index-of-max", "easy", "def index_of_max(nums: list[int]) -> int:",
     "Return the index of the largest value in the non-empty list `nums`. If the largest "
     "value occurs several times, return the FIRST index.",
     """
     def index_of_max(nums):
         best = 0
         for i in range(1, len(nums)):
             if nums[i] > nums[best]:
                 best = i
         return best
     """,
     """
     def index_of_max(nums):
         best = 0
         for i in range(1, len(nums)):
             if nums[i] >= nums[best]:
                 best = i
         return best
     """,
     [[[1, 3, 2]], [[5]], [[4, 4, 1]], [[1, 9, 9, 2]], [[-1, -5]], [[2, 1, 2]]])

call("all-unique-chars", "easy", "def all_unique_chars(s: str) -> bool:",
     "Return True if no character occurs more than once in `s`, otherwise False.",
     """
     def all_unique_chars(s):
         return len(set(s)) == len(s)
     """,
     """
     def all_unique_chars(s):
         return all(s[i] != s[i + 1] for i in range(len(s) - 1))
     """,
     [["abc"], ["aab"], ["abca"], [""], ["x"], ["abcdefga"], ["Aa"]])

call("word-lengths", "easy", "def word_lengths(s: str) -> list[int]:",
     "Return the lengths of the words of `s` in order. Words are separated by runs of spaces; "
     "leading and trailing spaces are ignored.",
     """
     def word_lengths(s):
         return [len(w) for w in s.split()]
     """,
     """
     def word_lengths(s):
         return [len(w) for w in s.split(" ")]
     """,
     [["the quick fox"], [""], ["a"], ["two  spaces"], [" padded "], ["hello world again"]])

call("pascal-row", "easy", "def pascal_row(n: int) -> list[int]:",
     "Return row `n` of Pascal's triangle, counting from row 0 = [1]. Row 1 is [1, 1], row 2 "
     "is [1, 2, 1].",
     """
     def pascal_row(n):
         row = [1]
         for _ in range(n):
             row = [1] + [row[i] + row[i + 1] for i in range(len(row) - 1)] + [1]
         return row
     """,
     """
     def pascal_row(n):
         row = [1]
         for _ in range(n - 1):
             row = [1] + [row[i] + row[i + 1] for i in range(len(row) - 1)] + [1]
         return row
     """,
     [[0], [1], [2], [4], [6], [10]])

call("matrix-multiply", "medium",
     "def matrix_multiply(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:",
     "Return the matrix product a x b. `a` is n x m and `b` is m x p (all dimensions >= 1).",
     """
     def matrix_multiply(a, b):
         return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
                 for i in range(len(a))]
     """,
     """
     def matrix_multiply(a, b):
         return [[sum(a[i][k] * b[j][k] for k in range(len(b))) for j in range(len(b[0]))]
                 for i in range(len(a))]
     """,
     [[[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [[[1]], [[2]]], [[[1, 0], [0, 1]], [[4, 5], [6, 7]]],
      [[[2, 3]], [[4], [5]]], [[[1, 2], [3, 4]], [[0, 1], [1, 0]]]])

call("move-zeros", "easy", "def move_zeros(nums: list[int]) -> list[int]:",
     "Return a new list with all zeros of `nums` moved to the end while the non-zero values "
     "keep their relative order.",
     """
     def move_zeros(nums):
         nonzero = [x for x in nums if x != 0]
         return nonzero + [0] * (len(nums) - len(nonzero))
     """,
     """
     def move_zeros(nums):
         return [x for x in nums if x != 0]
     """,
     [[[0, 1, 0, 3, 12]], [[]], [[0]], [[1, 2]], [[0, 0, 1]], [[4, 0, -2, 0]]])

call("longest-word", "easy", "def longest_word(sentence: str) -> str:",
     "Return the longest word in `sentence` (words separated by spaces). If several words "
     "share the maximum length, return the one that appears FIRST. The sentence has at least "
     "one word.",
     """
     def longest_word(sentence):
         best = ""
         for w in sentence.split():
             if len(w) > len(best):
                 best = w
         return best
     """,
     """
     def longest_word(sentence):
         best = ""
         for w in sentence.split():
             if len(w) >= len(best):
                 best = w
         return best
     """,
     [["the quick brown fox"], ["a"], ["cat dog"], ["hello world"], ["I love programming"],
      ["ab cd ef"]])

call("caesar-cipher", "easy", "def caesar(s: str, k: int) -> str:",
     "Shift every letter of `s` forward by `k` positions in the alphabet (0 <= k <= 25), "
     "wrapping around from z to a; keep upper case upper and lower case lower. Other "
     "characters are unchanged.",
     """
     def caesar(s, k):
         out = []
         for c in s:
             if c.islower():
                 out.append(chr((ord(c) - 97 + k) % 26 + 97))
             elif c.isupper():
                 out.append(chr((ord(c) - 65 + k) % 26 + 65))
             else:
                 out.append(c)
         return "".join(out)
     """,
     """
     def caesar(s, k):
         out = []
         for c in s:
             if c.isalpha():
                 out.append(chr(ord(c) + k))
             else:
                 out.append(c)
         return "".join(out)
     """,
     [["abc", 1], ["xyz", 3], ["Hello, World!", 5], ["", 7], ["Zz", 1], ["same", 0]])

call("count-overlapping", "easy", "def count_overlapping(s: str, sub: str) -> int:",
     "Return how many times the non-empty string `sub` occurs in `s`, counting overlapping "
     "occurrences (so 'aa' occurs 2 times in 'aaa').",
     """
     def count_overlapping(s, sub):
         return sum(1 for i in range(len(s) - len(sub) + 1) if s[i:i + len(sub)] == sub)
     """,
     """
     def count_overlapping(s, sub):
         return s.count(sub)
     """,
     [["aaa", "aa"], ["abcabc", "abc"], ["", "a"], ["abababa", "aba"], ["hello", "z"],
      ["aaaa", "a"]])

call("hamming-distance", "easy", "def hamming(a: str, b: str) -> int:",
     "`a` and `b` have the same length. Return the number of positions where they differ.",
     """
     def hamming(a, b):
         return sum(1 for x, y in zip(a, b) if x != y)
     """,
     """
     def hamming(a, b):
         return sum(1 for i in range(len(a) - 1) if a[i] != b[i])
     """,
     [["karolin", "kathrin"], ["", ""], ["a", "b"], ["abc", "abc"], ["abcd", "abce"],
      ["1011101", "1001001"]])

call("sum-of-squares", "easy", "def sum_of_squares(n: int) -> int:",
     "Return 1*1 + 2*2 + ... + n*n for n >= 0 (0 for n = 0).",
     """
     def sum_of_squares(n):
         return sum(i * i for i in range(1, n + 1))
     """,
     """
     def sum_of_squares(n):
         return sum(i * i for i in range(n))
     """,
     [[0], [1], [2], [3], [10], [100]])

call("armstrong-number", "easy", "def is_armstrong(n: int) -> bool:",
     "An Armstrong number with k digits equals the sum of its digits each raised to the "
     "power k (e.g. 153 = 1^3 + 5^3 + 3^3, 9474 = 9^4 + 4^4 + 7^4 + 4^4). Return True if "
     "the integer n >= 0 is an Armstrong number.",
     """
     def is_armstrong(n):
         digits = str(n)
         return n == sum(int(d) ** len(digits) for d in digits)
     """,
     """
     def is_armstrong(n):
         return n == sum(int(d) ** 3 for d in str(n))
     """,
     [[153], [9474], [0], [5], [10], [370], [9475], [54748]])

call("perfect-number", "easy", "def is_perfect(n: int) -> bool:",
     "A perfect number equals the sum of its positive divisors other than itself (6 = 1 + 2 "
     "+ 3). Return True if the positive integer `n` is perfect.",
     """
     def is_perfect(n):
         return n == sum(d for d in range(1, n // 2 + 1) if n % d == 0) and n > 1
     """,
     """
     def is_perfect(n):
         return n == sum(d for d in range(1, n // 2) if n % d == 0)
     """,
     [[6], [28], [1], [12], [496], [8128], [27]])

call("collatz-steps", "easy", "def collatz_steps(n: int) -> int:",
     "Starting from the positive integer `n`, repeatedly replace n by n / 2 if n is even, or "
     "by 3n + 1 if n is odd. Return how many replacements are needed to reach 1 (0 when n is "
     "already 1).",
     """
     def collatz_steps(n):
         steps = 0
         while n != 1:
             n = n // 2 if n % 2 == 0 else 3 * n + 1
             steps += 1
         return steps
     """,
     """
     def collatz_steps(n):
         steps = 1
         while n != 1:
             n = n // 2 if n % 2 == 0 else 3 * n + 1
             steps += 1
         return steps
     """,
     [[1], [2], [3], [6], [7], [27]])

call("max-subarray-sum", "medium", "def max_subarray_sum(nums: list[int]) -> int:",
     "Return the largest sum of a non-empty contiguous subarray of the non-empty list `nums` "
     "(values may be negative).",
     """
     def max_subarray_sum(nums):
         best = cur = nums[0]
         for x in nums[1:]:
             cur = max(x, cur + x)
             best = max(best, cur)
         return best
     """,
     """
     def max_subarray_sum(nums):
         best = cur = 0
         for x in nums:
             cur = max(0, cur + x)
             best = max(best, cur)
         return best
     """,
     [[[-2, 1, -3, 4, -1, 2, 1, -5, 4]], [[1]], [[-3]], [[-2, -1, -5]], [[5, 4, -1, 7, 8]],
      [[0, -1]]])

call("interleave", "easy", "def interleave(a: list[int], b: list[int]) -> list[int]:",
     "Return a list that takes elements alternately from `a` and `b`, starting with `a`. When "
     "one list runs out, append the rest of the other.",
     """
     def interleave(a, b):
         out = []
         for i in range(max(len(a), len(b))):
             if i < len(a):
                 out.append(a[i])
             if i < len(b):
                 out.append(b[i])
         return out
     """,
     """
     def interleave(a, b):
         out = []
         for x, y in zip(a, b):
             out.extend([x, y])
         return out
     """,
     [[[1, 2, 3], [4, 5, 6]], [[1], [2, 3, 4]], [[], [1]], [[], []], [[1, 2, 3], [9]]])

call("dedupe-adjacent", "easy", "def dedupe_adjacent(s: str) -> str:",
     "Collapse every run of equal adjacent characters of `s` into a single character: "
     "'aaabccdd' becomes 'abcd' and 'abba' becomes 'aba'.",
     """
     def dedupe_adjacent(s):
         out = []
         for c in s:
             if not out or out[-1] != c:
                 out.append(c)
         return "".join(out)
     """,
     """
     def dedupe_adjacent(s):
         out = []
         for c in s:
             if c not in out:
                 out.append(c)
         return "".join(out)
     """,
     [["aaabccdd"], ["abba"], [""], ["a"], ["abc"], ["aabbaa"]])

call("most-common-char", "easy", "def most_common_char(s: str) -> str:",
     "Return the character that occurs most often in the non-empty string `s`. If several "
     "characters tie, return the one whose first occurrence comes earliest in `s`.",
     """
     def most_common_char(s):
         best = s[0]
         for c in s:
             if s.count(c) > s.count(best):
                 best = c
         return best
     """,
     """
     def most_common_char(s):
         return max(sorted(set(s)), key=s.count)
     """,
     [["hello"], ["bbaa"], ["a"], ["abc"], ["zzyyy"], ["mississippi"], ["dcba"]])

call("digital-root", "easy", "def digital_root(n: int) -> int:",
     "Repeatedly replace the non-negative integer `n` by the sum of its digits until a single "
     "digit remains; return that digit.",
     """
     def digital_root(n):
         while n >= 10:
             n = sum(int(d) for d in str(n))
         return n
     """,
     """
     def digital_root(n):
         if n >= 10:
             n = sum(int(d) for d in str(n))
         return n
     """,
     [[0], [5], [38], [99], [12345], [987654321]])

call("prime-factors", "easy", "def prime_factors(n: int) -> list[int]:",
     "Return the prime factors of the integer n >= 2 in non-decreasing order, repeated by "
     "multiplicity (12 gives [2, 2, 3]).",
     """
     def prime_factors(n):
         out = []
         d = 2
         while d * d <= n:
             while n % d == 0:
                 out.append(d)
                 n //= d
             d += 1
         if n > 1:
             out.append(n)
         return out
     """,
     """
     def prime_factors(n):
         out = []
         for d in range(2, n + 1):
             if n % d == 0 and all(d % k for k in range(2, d)):
                 out.append(d)
         return out
     """,
     [[12], [2], [13], [8], [360], [97], [30]])

call("is-leap-year", "easy", "def is_leap_year(year: int) -> bool:",
     "Return True if `year` is a leap year in the Gregorian calendar: divisible by 4, except "
     "years divisible by 100, which are leap years only when also divisible by 400.",
     """
     def is_leap_year(year):
         return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
     """,
     """
     def is_leap_year(year):
         return year % 4 == 0 and year % 100 != 0
     """,
     [[2024], [2023], [1900], [2000], [2100], [1600], [4]])

call("days-in-month", "easy", "def days_in_month(month: int, year: int) -> int:",
     "Return the number of days in `month` (1 = January ... 12 = December) of `year`, using "
     "Gregorian leap-year rules for February.",
     """
     def days_in_month(month, year):
         if month == 2:
             leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
             return 29 if leap else 28
         return 30 if month in (4, 6, 9, 11) else 31
     """,
     """
     def days_in_month(month, year):
         if month == 2:
             return 28
         return 30 if month in (4, 6, 9, 11) else 31
     """,
     [[1, 2023], [2, 2023], [2, 2024], [4, 2020], [12, 1999], [2, 2000], [2, 1900]])

call("cumulative-sum", "easy", "def cumulative_sum(nums: list[int]) -> list[int]:",
     "Return the running totals of `nums`: element i of the result is nums[0] + ... + "
     "nums[i].",
     """
     def cumulative_sum(nums):
         out = []
         total = 0
         for x in nums:
             total += x
             out.append(total)
         return out
     """,
     """
     def cumulative_sum(nums):
         out = []
         total = 0
         for x in nums:
             out.append(total)
             total += x
         return out
     """,
     [[[1, 2, 3]], [[]], [[5]], [[1, -1, 1]], [[10, 20, 30, 40]]])

call("word-count-dict", "easy", "def word_counts(text: str) -> dict[str, int]:",
     "Return a dictionary mapping each word of `text` (split on whitespace) converted to "
     "lower case to the number of times it occurs, ignoring case.",
     """
     def word_counts(text):
         counts = {}
         for w in text.lower().split():
             counts[w] = counts.get(w, 0) + 1
         return counts
     """,
     """
     def word_counts(text):
         counts = {}
         for w in text.split():
             counts[w] = counts.get(w, 0) + 1
         return counts
     """,
     [["the cat the dog"], [""], ["Hello hello HELLO"], ["a b a b c"], ["One"]])

call("run-length-decode", "easy", "def run_length_decode(s: str) -> str:",
     "Decode a run-length encoded string: each letter is followed by its count, which may "
     "have several digits. 'a3b1c12' decodes to 'aaab' followed by twelve 'c's.",
     """
     def run_length_decode(s):
         out = []
         i = 0
         while i < len(s):
             ch = s[i]
             j = i + 1
             while j < len(s) and s[j].isdigit():
                 j += 1
             out.append(ch * int(s[i + 1:j]))
             i = j
         return "".join(out)
     """,
     """
     def run_length_decode(s):
         out = []
         for i in range(0, len(s), 2):
             out.append(s[i] * int(s[i + 1]))
         return "".join(out)
     """,
     [["a3b1"], [""], ["x1"], ["a10"], ["a3b1c12"], ["z2y2"]])

call("spiral-order", "medium", "def spiral_order(matrix: list[list[int]]) -> list[int]:",
     "Return the elements of the non-empty rectangular `matrix` in clockwise spiral order, "
     "starting at the top-left corner and going right first.",
     """
     def spiral_order(matrix):
         out = []
         top, bottom, left, right = 0, len(matrix) - 1, 0, len(matrix[0]) - 1
         while top <= bottom and left <= right:
             for c in range(left, right + 1):
                 out.append(matrix[top][c])
             for r in range(top + 1, bottom + 1):
                 out.append(matrix[r][right])
             if top < bottom and left < right:
                 for c in range(right - 1, left - 1, -1):
                     out.append(matrix[bottom][c])
                 for r in range(bottom - 1, top, -1):
                     out.append(matrix[r][left])
             top, bottom, left, right = top + 1, bottom - 1, left + 1, right - 1
         return out
     """,
     """
     def spiral_order(matrix):
         out = []
         top, bottom, left, right = 0, len(matrix) - 1, 0, len(matrix[0]) - 1
         while top <= bottom and left <= right:
             for c in range(left, right + 1):
                 out.append(matrix[top][c])
             for r in range(top + 1, bottom + 1):
                 out.append(matrix[r][right])
             for c in range(right - 1, left - 1, -1):
                 out.append(matrix[bottom][c])
             for r in range(bottom - 1, top, -1):
                 out.append(matrix[r][left])
             top, bottom, left, right = top + 1, bottom - 1, left + 1, right - 1
         return out
     """,
     [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], [[[1]]], [[[1, 2, 3, 4]]], [[[1], [2], [3]]],
      [[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]], [[[1, 2], [3, 4]]]])

call("valid-ipv4", "medium", "def is_valid_ipv4(s: str) -> bool:",
     "Return True if `s` is a valid IPv4 address: exactly four decimal numbers separated by "
     "dots, each between 0 and 255, made only of digits, and without leading zeros (so '0' "
     "is fine but '01' is not).",
     """
     def is_valid_ipv4(s):
         parts = s.split(".")
         if len(parts) != 4:
             return False
         for p in parts:
             if not p.isdigit() or int(p) > 255 or (len(p) > 1 and p[0] == "0"):
                 return False
         return True
     """,
     """
     def is_valid_ipv4(s):
         parts = s.split(".")
         if len(parts) != 4:
             return False
         for p in parts:
             if not p.isdigit() or int(p) > 255:
                 return False
         return True
     """,
     [["192.168.1.1"], ["255.255.255.255"], ["256.1.1.1"], ["1.2.3"], ["01.2.3.4"],
      ["0.0.0.0"], ["a.b.c.d"], ["1.2.3.4.5"], ["1..2.3"]])

call("kth-smallest", "easy", "def kth_smallest(nums: list[int], k: int) -> int:",
     "Return the k-th smallest element of `nums` (1 <= k <= len(nums)), counting duplicates: "
     "in [1, 1, 2] the 2nd smallest is 1.",
     """
     def kth_smallest(nums, k):
         return sorted(nums)[k - 1]
     """,
     """
     def kth_smallest(nums, k):
         return sorted(set(nums))[k - 1]
     """,
     [[[3, 1, 2], 1], [[3, 1, 2], 3], [[1, 1, 2], 2], [[5], 1], [[7, 7, 7, 1], 3],
      [[4, -1, 9, 0], 2]])

call("count-evens", "easy", "def count_evens(nums: list[int]) -> int:",
     "Return how many numbers in `nums` are even. Zero and negative even numbers count as "
     "even.",
     """
     def count_evens(nums):
         return sum(1 for x in nums if x % 2 == 0)
     """,
     """
     def count_evens(nums):
         return sum(1 for x in nums if x > 0 and x % 2 == 0)
     """,
     [[[1, 2, 3, 4]], [[]], [[0]], [[-2, -3]], [[1, 3, 5]], [[2, 4, 6, 0, -8]]])

call("snake-to-camel", "easy", "def snake_to_camel(s: str) -> str:",
     "Convert the snake_case identifier `s` (lower-case words joined by single underscores) "
     "to camelCase: the first word stays lower case, later words start with an upper-case "
     "letter. 'hello_big_world' becomes 'helloBigWorld'.",
     """
     def snake_to_camel(s):
         words = s.split("_")
         return words[0] + "".join(w.capitalize() for w in words[1:])
     """,
     """
     def snake_to_camel(s):
         return "".join(w.capitalize() for w in s.split("_"))
     """,
     [["hello_big_world"], ["single"], ["a_b"], ["snake_case_name"], ["x"]])

call("camel-to-snake", "easy", "def camel_to_snake(s: str) -> str:",
     "Convert the camelCase identifier `s` to snake_case: put an underscore before each "
     "upper-case letter (except at the start) and lower-case everything. 'helloBigWorld' "
     "becomes 'hello_big_world' and 'HTTP' becomes 'h_t_t_p'.",
     """
     def camel_to_snake(s):
         out = []
         for i, c in enumerate(s):
             if c.isupper() and i > 0:
                 out.append("_")
             out.append(c.lower())
         return "".join(out)
     """,
     """
     def camel_to_snake(s):
         out = []
         for c in s:
             if c.isupper():
                 out.append("_")
             out.append(c.lower())
         return "".join(out)
     """,
     [["helloBigWorld"], ["single"], ["aB"], ["HTTP"], ["Start"], [""]])

call("longest-increasing-run", "easy", "def longest_increasing_run(nums: list[int]) -> int:",
     "Return the length of the longest contiguous strictly increasing run in `nums` (0 for "
     "an empty list).",
     """
     def longest_increasing_run(nums):
         if not nums:
             return 0
         best = cur = 1
         for i in range(1, len(nums)):
             cur = cur + 1 if nums[i] > nums[i - 1] else 1
             best = max(best, cur)
         return best
     """,
     """
     def longest_increasing_run(nums):
         if not nums:
             return 0
         best = cur = 1
         for i in range(1, len(nums)):
             if nums[i] > nums[i - 1]:
                 cur += 1
             else:
                 best = max(best, cur)
                 cur = 1
         return best
     """,
     [[[1, 2, 3, 1, 2]], [[]], [[5]], [[3, 2, 1]], [[1, 2, 1, 2, 3, 4]], [[1, 1, 1]]])

call("max-profit", "medium", "def max_profit(self, prices: list[int]) -> int:",
     "`prices[i]` is a stock price on day i. Buy on one day and sell on a LATER day; return "
     "the best possible profit, or 0 if no profit is possible.",
     """
     class Solution:
         def max_profit(self, prices):
             best = 0
             low = None
             for p in prices:
                 if low is None or p < low:
                     low = p
                 best = max(best, p - low)
             return best
     """,
     """
     class Solution:
         def max_profit(self, prices):
             if not prices:
                 return 0
             return max(prices) - min(prices)
     """,
     [[[7, 1, 5, 3, 6, 4]], [[7, 6, 4, 3, 1]], [[]], [[5]], [[1, 2]], [[2, 4, 1]]],
     method=True)

call("climb-stairs", "easy", "def climb_stairs(n: int) -> int:",
     "You climb a staircase of `n` steps (n >= 1), taking 1 or 2 steps at a time. Return the "
     "number of distinct ways to reach the top.",
     """
     def climb_stairs(n):
         a, b = 1, 1
         for _ in range(n):
             a, b = b, a + b
         return a
     """,
     """
     def climb_stairs(n):
         a, b = 0, 1
         for _ in range(n):
             a, b = b, a + b
         return a
     """,
     [[1], [2], [3], [4], [10], [20]])

call("sum-of-multiples", "easy", "def sum_of_multiples(n: int) -> int:",
     "Return the sum of all natural numbers strictly below `n` that are multiples of 3 or 5 "
     "(each number counted once).",
     """
     def sum_of_multiples(n):
         return sum(i for i in range(n) if i % 3 == 0 or i % 5 == 0)
     """,
     """
     def sum_of_multiples(n):
         return sum(range(0, n, 3)) + sum(range(0, n, 5))
     """,
     [[10], [0], [1], [16], [100], [4]])

call("valid-anagram", "easy", "def is_anagram(self, s: str, t: str) -> bool:",
     "Return True if `t` is an anagram of `s`: both use exactly the same characters with the "
     "same counts.",
     """
     class Solution:
         def is_anagram(self, s, t):
             return sorted(s) == sorted(t)
     """,
     """
     class Solution:
         def is_anagram(self, s, t):
             return set(s) == set(t)
     """,
     [["anagram", "nagaram"], ["rat", "car"], ["", ""], ["aab", "abb"], ["a", "a"],
      ["listen", "silent"]],
     method=True)

call("find-peak", "easy", "def find_peak_index(nums: list[int]) -> int:",
     "Return the index of the first element of `nums` that is strictly greater than both of "
     "its neighbours (a missing neighbour at either end counts as smaller). Return -1 if "
     "there is none.",
     """
     def find_peak_index(nums):
         for i in range(len(nums)):
             left = nums[i - 1] if i > 0 else None
             right = nums[i + 1] if i + 1 < len(nums) else None
             if (left is None or nums[i] > left) and (right is None or nums[i] > right):
                 return i
         return -1
     """,
     """
     def find_peak_index(nums):
         for i in range(1, len(nums) - 1):
             if nums[i] > nums[i - 1] and nums[i] > nums[i + 1]:
                 return i
         return -1
     """,
     [[[1, 3, 2]], [[5, 1, 2]], [[1, 2, 3]], [[]], [[4]], [[2, 2, 2]], [[1, 2, 1, 3, 1]]])

call("range-sum", "easy", "def range_sum(nums: list[int], left: int, right: int) -> int:",
     "Return nums[left] + nums[left + 1] + ... + nums[right] (both ends included; "
     "0 <= left <= right < len(nums)).",
     """
     def range_sum(nums, left, right):
         return sum(nums[left:right + 1])
     """,
     """
     def range_sum(nums, left, right):
         return sum(nums[left:right])
     """,
     [[[1, 2, 3, 4], 1, 2], [[5], 0, 0], [[1, 2, 3], 0, 2], [[-1, 4, -2], 1, 1],
      [[10, 20, 30, 40, 50], 2, 4]])

# ---------------------------------------------------------------------------------------------
# stdio: the program reads standard input and prints the answer.
# ---------------------------------------------------------------------------------------------

stdio("add-two-numbers", "easy",
      """
      Read two integers a and b given on one line separated by a space and print their sum.

      Input: one line with two integers.
      Output: one line with a + b.
      """,
      """
      a, b = map(int, input().split())
      print(a + b)
      """,
      """
      a, b = input().split()
      print(a + b)
      """,
      ["1 2\n", "0 0\n", "-5 3\n", "100 200\n", "7 -7\n", "123456789 987654321\n"])

stdio("max-of-numbers", "easy",
      """
      Print the largest of n integers.

      Input: the first line holds n (n >= 1); the second line holds n integers separated by
      spaces.
      Output: one line with the largest integer.
      """,
      """
      n = int(input())
      nums = list(map(int, input().split()))
      print(max(nums))
      """,
      """
      n = int(input())
      nums = input().split()
      print(max(nums))
      """,
      ["3\n1 5 3\n", "1\n42\n", "4\n9 10 2 3\n", "3\n-1 -5 -3\n", "5\n100 20 3 99 7\n"])

stdio("reverse-words-line", "easy",
      """
      Read one line of text and print its words in reverse order, separated by single spaces.

      Input: one line containing words separated by spaces.
      Output: the same words in reverse order.
      """,
      """
      print(" ".join(input().split()[::-1]))
      """,
      """
      print(input()[::-1])
      """,
      ["hello world\n", "one\n", "the quick brown fox\n", "a b c\n", "  spaced   out  \n"])

stdio("fizzbuzz-lines", "easy",
      """
      Print FizzBuzz for the numbers 1 to n: one line per number, 'FizzBuzz' for multiples of
      15, 'Fizz' for multiples of 3, 'Buzz' for multiples of 5, otherwise the number.

      Input: one integer n (n >= 1).
      Output: n lines.
      """,
      """
      n = int(input())
      for i in range(1, n + 1):
          if i % 15 == 0:
              print("FizzBuzz")
          elif i % 3 == 0:
              print("Fizz")
          elif i % 5 == 0:
              print("Buzz")
          else:
              print(i)
      """,
      """
      n = int(input())
      for i in range(1, n):
          if i % 15 == 0:
              print("FizzBuzz")
          elif i % 3 == 0:
              print("Fizz")
          elif i % 5 == 0:
              print("Buzz")
          else:
              print(i)
      """,
      ["1\n", "3\n", "5\n", "15\n", "16\n", "31\n"])

stdio("count-vowels-line", "easy",
      """
      Count the vowels (a, e, i, o, u in upper or lower case) in one line of text.

      Input: one line of text.
      Output: one integer, the number of vowels.
      """,
      """
      s = input()
      print(sum(1 for c in s if c.lower() in "aeiou"))
      """,
      """
      s = input()
      print(sum(1 for c in s if c in "aeiou"))
      """,
      ["hello world\n", "AEIOU\n", "rhythm\n", "Programming In Python\n", "xyz\n",
       "Eat An Apple\n"])

stdio("factorial-stdio", "easy",
      """
      Print n! (n factorial) for an integer 0 <= n <= 30. 0! is 1.

      Input: one integer n.
      Output: one integer, n!.
      """,
      """
      n = int(input())
      r = 1
      for i in range(2, n + 1):
          r *= i
      print(r)
      """,
      """
      n = int(input())
      r = 1
      for i in range(2, n):
          r *= i
      print(r)
      """,
      ["0\n", "1\n", "5\n", "10\n", "20\n", "30\n"])

stdio("palindrome-yes-no", "easy",
      """
      Decide whether a word is a palindrome, ignoring upper/lower case.

      Input: one line with a single word.
      Output: YES if the word reads the same backwards (ignoring case), otherwise NO.
      """,
      """
      s = input().strip().lower()
      print("YES" if s == s[::-1] else "NO")
      """,
      """
      s = input().strip()
      print("YES" if s == s[::-1] else "NO")
      """,
      ["racecar\n", "Racecar\n", "hello\n", "a\n", "Abba\n", "ab\n", "LeveL\n"])

stdio("multiplication-table", "easy",
      """
      Print the multiplication table of n from 1 to 10.

      Input: one integer n.
      Output: 10 lines; line i (i = 1..10) is exactly 'n x i = p' where p = n * i, e.g.
      '3 x 4 = 12'.
      """,
      """
      n = int(input())
      for i in range(1, 11):
          print(f"{n} x {i} = {n * i}")
      """,
      """
      n = int(input())
      for i in range(1, 10):
          print(f"{n} x {i} = {n * i}")
      """,
      ["3\n", "1\n", "0\n", "12\n", "-2\n"])

stdio("star-triangle", "easy",
      """
      Print a right triangle of stars with n rows: row i (i = 1..n) has i '*' characters.

      Input: one integer n (n >= 1).
      Output: n lines.
      """,
      """
      n = int(input())
      for i in range(1, n + 1):
          print("*" * i)
      """,
      """
      n = int(input())
      for i in range(n):
          print("*" * i)
      """,
      ["1\n", "3\n", "5\n", "2\n", "8\n"])

stdio("digit-sum-stdio", "easy",
      """
      Print the sum of the decimal digits of an integer (ignore a minus sign).

      Input: one integer, possibly negative, possibly with many digits.
      Output: the sum of its digits.
      """,
      """
      s = input().strip().lstrip("-")
      print(sum(int(c) for c in s))
      """,
      """
      s = input().strip()
      print(sum(int(c) for c in s))
      """,
      ["123\n", "0\n", "-456\n", "99999999999999999999\n", "7\n", "-1\n"])

stdio("longest-word-lines", "easy",
      """
      Print the longest of n words; on a tie print the one that came first.

      Input: the first line holds n (n >= 1); each of the next n lines holds one word.
      Output: the longest word.
      """,
      """
      n = int(input())
      best = ""
      for _ in range(n):
          w = input().strip()
          if len(w) > len(best):
              best = w
      print(best)
      """,
      """
      n = int(input())
      best = ""
      for _ in range(n):
          w = input().strip()
          if len(w) >= len(best):
              best = w
      print(best)
      """,
      ["3\napple\nfig\nbanana\n", "1\nsolo\n", "2\nab\ncd\n", "4\na\nbbb\nccc\nd\n",
       "3\nx\nyy\nzzz\n"])

stdio("sort-numbers", "easy",
      """
      Sort a line of integers in increasing order.

      Input: one line of integers separated by spaces (at least one).
      Output: the same integers in increasing order, separated by single spaces.
      """,
      """
      nums = sorted(map(int, input().split()))
      print(" ".join(map(str, nums)))
      """,
      """
      nums = sorted(input().split())
      print(" ".join(nums))
      """,
      ["3 1 2\n", "5\n", "10 9 100 1\n", "-1 -10 5\n", "2 2 1\n"])

stdio("word-frequency-order", "easy",
      """
      Count how often each word occurs in a line of text.

      Input: one line of lower-case words separated by spaces.
      Output: one line per distinct word, in order of the word's first appearance, formatted
      'word count'.
      """,
      """
      counts = {}
      for w in input().split():
          counts[w] = counts.get(w, 0) + 1
      for w, c in counts.items():
          print(w, c)
      """,
      """
      counts = {}
      for w in input().split():
          counts[w] = counts.get(w, 0) + 1
      for w in sorted(counts):
          print(w, counts[w])
      """,
      ["the cat and the hat\n", "one\n", "b a b a\n", "x x x\n", "zeta alpha zeta\n"])

stdio("gcd-stdio", "easy",
      """
      Print the greatest common divisor of two non-negative integers (gcd(x, 0) = x).

      Input: one line with two integers a and b.
      Output: gcd(a, b).
      """,
      """
      a, b = map(int, input().split())
      while b:
          a, b = b, a % b
      print(a)
      """,
      """
      a, b = map(int, input().split())
      for d in range(min(a, b), 0, -1):
          if a % d == 0 and b % d == 0:
              print(d)
              break
      """,
      ["12 18\n", "7 5\n", "0 9\n", "100 10\n", "8 0\n", "21 14\n"])

stdio("first-n-primes", "easy",
      """
      Print the first n prime numbers.

      Input: one integer n (n >= 1).
      Output: the first n primes in increasing order on one line, separated by spaces.
      """,
      """
      n = int(input())
      primes = []
      k = 2
      while len(primes) < n:
          if all(k % p for p in primes if p * p <= k):
              primes.append(k)
          k += 1
      print(" ".join(map(str, primes)))
      """,
      """
      n = int(input())
      primes = []
      k = 2
      while len(primes) < n:
          if all(k % d for d in range(2, int(k ** 0.5))):
              primes.append(k)
          k += 1
      print(" ".join(map(str, primes)))
      """,
      ["1\n", "2\n", "5\n", "10\n", "3\n", "25\n"])

stdio("to-binary-stdio", "easy",
      """
      Print the binary representation of a non-negative integer.

      Input: one integer n >= 0.
      Output: n in base 2 without prefix or leading zeros (0 prints as 0).
      """,
      """
      print(bin(int(input()))[2:])
      """,
      """
      print(bin(int(input())))
      """,
      ["5\n", "0\n", "1\n", "255\n", "1024\n"])

stdio("remove-vowels-line", "easy",
      """
      Remove all vowels (a, e, i, o, u, upper or lower case) from a line of text.

      Input: one line of text.
      Output: the line without its vowels.
      """,
      """
      s = input()
      print("".join(c for c in s if c.lower() not in "aeiou"))
      """,
      """
      s = input()
      print("".join(c for c in s if c not in "aeiou"))
      """,
      ["hello world\n", "AEIOU and more\n", "rhythm\n", "Programming\n", "bcd\n"])

stdio("min-max-sum", "easy",
      """
      Print the minimum, the maximum and the sum of a line of integers.

      Input: one line of integers separated by spaces (at least one).
      Output: one line 'min max sum'.
      """,
      """
      nums = list(map(int, input().split()))
      print(min(nums), max(nums), sum(nums))
      """,
      """
      nums = list(map(int, input().split()))
      print(max(nums), min(nums), sum(nums))
      """,
      ["1 2 3\n", "5\n", "-1 -2 -3\n", "10 0 -10\n", "4 4\n"])

stdio("celsius-to-fahrenheit", "easy",
      """
      Convert a temperature from Celsius to Fahrenheit: F = C * 9 / 5 + 32.

      Input: one integer C.
      Output: F printed with exactly one digit after the decimal point (e.g. 98.6).
      """,
      """
      c = int(input())
      print(f"{c * 9 / 5 + 32:.1f}")
      """,
      """
      c = int(input())
      print(f"{c * 5 / 9 + 32:.1f}")
      """,
      ["0\n", "100\n", "37\n", "-40\n", "25\n"])

stdio("average-two-decimals", "easy",
      """
      Print the average of n integers with exactly two digits after the decimal point.

      Input: the first line holds n (n >= 1); the second line holds n integers.
      Output: the average, formatted with two decimals (e.g. 2.50).
      """,
      """
      n = int(input())
      nums = list(map(int, input().split()))
      print(f"{sum(nums) / n:.2f}")
      """,
      """
      n = int(input())
      nums = list(map(int, input().split()))
      print(f"{sum(nums) // n:.2f}")
      """,
      ["2\n2 3\n", "1\n5\n", "3\n1 2 2\n", "4\n10 20 30 40\n", "3\n-1 0 0\n"])

stdio("count-error-lines", "easy",
      """
      Count the lines that contain the word 'error' in any letter case (as part of the line,
      e.g. 'ERROR: disk full' and 'an Error happened' both count).

      Input: any number of lines until end of input.
      Output: the number of such lines.
      """,
      """
      import sys
      print(sum(1 for line in sys.stdin if "error" in line.lower()))
      """,
      """
      import sys
      print(sum(1 for line in sys.stdin if "error" in line))
      """,
      ["ok\nerror here\nfine\n", "ERROR: disk full\nan Error happened\n", "nothing\n",
       "error\nerror\nerror\n", "Errors and more errors\nno\n"])

stdio("transpose-grid", "easy",
      """
      Transpose a matrix of integers.

      Input: the first line holds r and c; then r lines with c integers each.
      Output: c lines with r integers each (the transpose), numbers separated by spaces.
      """,
      """
      r, c = map(int, input().split())
      rows = [input().split() for _ in range(r)]
      for j in range(c):
          print(" ".join(rows[i][j] for i in range(r)))
      """,
      """
      r, c = map(int, input().split())
      rows = [input().split() for _ in range(r)]
      for j in range(r):
          print(" ".join(rows[i][j] for i in range(r)))
      """,
      ["2 2\n1 2\n3 4\n", "1 3\n1 2 3\n", "3 1\n1\n2\n3\n", "1 1\n9\n", "2 3\n1 2 3\n4 5 6\n"])

stdio("brackets-yes-no", "easy",
      """
      For each of n lines made of the characters ()[]{}, print YES if the brackets are
      balanced and properly nested, otherwise NO.

      Input: the first line holds n; then n lines (a line may be empty).
      Output: n lines, each YES or NO.
      """,
      """
      n = int(input())
      pairs = {")": "(", "]": "[", "}": "{"}
      for _ in range(n):
          s = input().strip()
          stack = []
          ok = True
          for ch in s:
              if ch in "([{":
                  stack.append(ch)
              elif not stack or stack.pop() != pairs[ch]:
                  ok = False
                  break
          print("YES" if ok and not stack else "NO")
      """,
      """
      n = int(input())
      for _ in range(n):
          s = input().strip()
          ok = all(s.count(a) == s.count(b) for a, b in ["()", "[]", "{}"])
          print("YES" if ok else "NO")
      """,
      ["1\n()\n", "3\n([])\n(]\n{[()]}\n", "2\n([)]\n)(\n", "1\n((\n", "2\n\n{}[]\n"])

stdio("rle-stdio", "easy",
      """
      Run-length encode a string: each maximal run of equal characters becomes the character
      followed by the run length ('aaabcc' becomes 'a3b1c2').

      Input: one non-empty line without spaces.
      Output: the encoded string.
      """,
      """
      s = input().strip()
      out = []
      i = 0
      while i < len(s):
          j = i
          while j < len(s) and s[j] == s[i]:
              j += 1
          out.append(s[i] + str(j - i))
          i = j
      print("".join(out))
      """,
      """
      s = input().strip()
      out = []
      count = 1
      for i in range(1, len(s)):
          if s[i] == s[i - 1]:
              count += 1
          else:
              out.append(s[i - 1] + str(count))
              count = 1
      print("".join(out))
      """,
      ["aaabcc\n", "a\n", "abc\n", "zzzzzzzzzzzz\n", "aabbaa\n"])

stdio("caesar-stdio", "easy",
      """
      Encrypt a line of text with a Caesar shift: move each letter k places forward in the
      alphabet, wrapping from z to a, keeping its case. Other characters are unchanged.

      Input: the first line holds k (0 <= k <= 25); the second line holds the text.
      Output: the encrypted text.
      """,
      """
      k = int(input())
      s = input()
      out = []
      for c in s:
          if "a" <= c <= "z":
              out.append(chr((ord(c) - 97 + k) % 26 + 97))
          elif "A" <= c <= "Z":
              out.append(chr((ord(c) - 65 + k) % 26 + 65))
          else:
              out.append(c)
      print("".join(out))
      """,
      """
      k = int(input())
      s = input()
      out = []
      for c in s:
          if c.isalpha():
              out.append(chr(ord(c) + k))
          else:
              out.append(c)
      print("".join(out))
      """,
      ["1\nabc\n", "3\nxyz\n", "13\nHello, World!\n", "0\nsame\n", "25\nZebra\n"])

stdio("second-largest-stdio", "easy",
      """
      Print the second largest DISTINCT value of a line of integers, or NONE if there are
      fewer than two distinct values.

      Input: one line of integers separated by spaces (at least one).
      Output: the second largest distinct value, or NONE.
      """,
      """
      vals = sorted(set(map(int, input().split())))
      print(vals[-2] if len(vals) >= 2 else "NONE")
      """,
      """
      vals = sorted(map(int, input().split()))
      print(vals[-2] if len(vals) >= 2 else "NONE")
      """,
      ["1 2 3\n", "5 5 4\n", "7\n", "3 3\n", "-1 -2 -3\n", "10 20 20 5\n"])

stdio("fibonacci-stdio", "easy",
      """
      Print the n-th Fibonacci number F(n), where F(0) = 0, F(1) = 1 and F(n) = F(n-1) +
      F(n-2).

      Input: one integer 0 <= n <= 90.
      Output: F(n).
      """,
      """
      n = int(input())
      a, b = 0, 1
      for _ in range(n):
          a, b = b, a + b
      print(a)
      """,
      """
      n = int(input())
      a, b = 1, 1
      for _ in range(n):
          a, b = b, a + b
      print(a)
      """,
      ["0\n", "1\n", "2\n", "10\n", "50\n", "90\n"])

stdio("even-odd-count", "easy",
      """
      Count the even and the odd numbers among n integers (0 is even; negatives count too).

      Input: the first line holds n (n >= 1); the second line holds n integers.
      Output: one line 'E O' with the count of even numbers E and odd numbers O.
      """,
      """
      n = int(input())
      nums = list(map(int, input().split()))
      e = sum(1 for x in nums if x % 2 == 0)
      print(e, n - e)
      """,
      """
      n = int(input())
      nums = list(map(int, input().split()))
      e = sum(1 for x in nums if x and x % 2 == 0)
      o = sum(1 for x in nums if x % 2 == 1)
      print(e, o)
      """,
      ["4\n1 2 3 4\n", "1\n0\n", "3\n-1 -2 -3\n", "2\n0 0\n", "5\n2 4 6 8 10\n"])

stdio("leap-year-stdio", "easy",
      """
      Decide whether a year is a leap year: divisible by 4, except century years, which
      must be divisible by 400.

      Input: one integer year.
      Output: YES or NO.
      """,
      """
      y = int(input())
      print("YES" if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else "NO")
      """,
      """
      y = int(input())
      print("YES" if y % 4 == 0 else "NO")
      """,
      ["2024\n", "2023\n", "1900\n", "2000\n", "2100\n", "1996\n"])

stdio("sort-by-length", "easy",
      """
      Sort words by length, shortest first; words of equal length in alphabetical order.

      Input: one line of lower-case words separated by spaces.
      Output: the sorted words on one line separated by single spaces.
      """,
      """
      words = input().split()
      print(" ".join(sorted(words, key=lambda w: (len(w), w))))
      """,
      """
      words = input().split()
      print(" ".join(sorted(words, key=len)))
      """,
      ["banana kiwi apple fig\n", "one\n", "bb aa c\n", "abc ab a\n", "dog cat ant\n"])

stdio("diagonal-sum", "easy",
      """
      Print the sum of both diagonals of an n x n matrix; when n is odd the centre element
      is counted only once.

      Input: the first line holds n (n >= 1); then n lines of n integers.
      Output: the diagonal sum.
      """,
      """
      n = int(input())
      m = [list(map(int, input().split())) for _ in range(n)]
      total = 0
      for i in range(n):
          total += m[i][i]
          if i != n - 1 - i:
              total += m[i][n - 1 - i]
      print(total)
      """,
      """
      n = int(input())
      m = [list(map(int, input().split())) for _ in range(n)]
      print(sum(m[i][i] + m[i][n - 1 - i] for i in range(n)))
      """,
      ["2\n1 2\n3 4\n", "1\n5\n", "3\n1 2 3\n4 5 6\n7 8 9\n",
       "4\n1 1 1 1\n1 1 1 1\n1 1 1 1\n1 1 1 1\n", "3\n0 0 0\n0 9 0\n0 0 0\n"])

stdio("anagram-yes-no", "easy",
      """
      Decide whether two words are anagrams (same letters with the same counts).

      Input: two lines, each with one lower-case word.
      Output: YES or NO.
      """,
      """
      a = input().strip()
      b = input().strip()
      print("YES" if sorted(a) == sorted(b) else "NO")
      """,
      """
      a = input().strip()
      b = input().strip()
      print("YES" if set(a) == set(b) else "NO")
      """,
      ["listen\nsilent\n", "rat\ncar\n", "aab\nabb\n", "a\na\n", "abc\nab\n", "night\nthing\n"])

stdio("distinct-in-order", "easy",
      """
      Print the distinct values of a line of integers in order of first appearance.

      Input: one line of integers separated by spaces.
      Output: the distinct values on one line, separated by single spaces.
      """,
      """
      seen = []
      for x in input().split():
          if x not in seen:
              seen.append(x)
      print(" ".join(seen))
      """,
      """
      print(" ".join(map(str, sorted(set(map(int, input().split()))))))
      """,
      ["1 2 2 3\n", "3 1 3 2 1\n", "5\n", "9 9 9\n", "4 -1 4 0\n"])

stdio("reverse-integer-stdio", "easy",
      """
      Reverse the digits of an integer, keeping its sign and dropping leading zeros of the
      result (1200 gives 21, -123 gives -321, 0 gives 0).

      Input: one integer.
      Output: the reversed integer.
      """,
      """
      n = int(input())
      sign = -1 if n < 0 else 1
      print(sign * int(str(abs(n))[::-1]))
      """,
      """
      n = int(input())
      print(int(str(abs(n))[::-1]))
      """,
      ["123\n", "-123\n", "1200\n", "0\n", "5\n", "-900\n"])

stdio("twelve-hour-clock", "medium",
      """
      Convert a 24-hour time to 12-hour format.

      Input: one time 'HH:MM' (00:00 to 23:59).
      Output: 'h:MM AM' or 'h:MM PM' where h is 1..12 without a leading zero. Midnight 00:05
      is '12:05 AM', noon 12:00 is '12:00 PM'.
      """,
      """
      h, m = input().strip().split(":")
      h = int(h)
      suffix = "AM" if h < 12 else "PM"
      h12 = h % 12 or 12
      print(f"{h12}:{m} {suffix}")
      """,
      """
      h, m = input().strip().split(":")
      h = int(h)
      suffix = "AM" if h < 12 else "PM"
      h12 = h - 12 if h > 12 else h
      print(f"{h12}:{m} {suffix}")
      """,
      ["13:45\n", "00:05\n", "12:00\n", "09:30\n", "23:59\n", "11:59\n"])

stdio("prefix-sums-stdio", "easy",
      """
      Print the running totals of a line of integers.

      Input: one line of integers separated by spaces.
      Output: one line where the i-th number is the sum of the first i input numbers.
      """,
      """
      total = 0
      out = []
      for x in map(int, input().split()):
          total += x
          out.append(total)
      print(" ".join(map(str, out)))
      """,
      """
      nums = list(map(int, input().split()))
      print(" ".join(str(sum(nums[:i])) for i in range(len(nums))))
      """,
      ["1 2 3\n", "5\n", "1 -1 1 -1\n", "10 20 30 40\n", "0 0\n"])

stdio("long-words-count", "easy",
      """
      Count the words that are strictly longer than k characters.

      Input: the first line holds k; the second line holds words separated by spaces.
      Output: the number of words with more than k characters.
      """,
      """
      k = int(input())
      print(sum(1 for w in input().split() if len(w) > k))
      """,
      """
      k = int(input())
      print(sum(1 for w in input().split() if len(w) >= k))
      """,
      ["3\nthe quick brown fox\n", "0\na b c\n", "5\nhello world\n", "1\na bb ccc\n",
       "10\nshort words only\n"])

stdio("count-islands", "medium",
      """
      Count the islands in a grid. Land cells are '#' and water cells are '.'. Two land cells
      belong to the same island when they touch horizontally or vertically (NOT diagonally).

      Input: the first line holds r and c; then r lines of c characters.
      Output: the number of islands.
      """,
      """
      r, c = map(int, input().split())
      g = [list(input().strip()) for _ in range(r)]
      count = 0
      for i in range(r):
          for j in range(c):
              if g[i][j] == "#":
                  count += 1
                  stack = [(i, j)]
                  g[i][j] = "."
                  while stack:
                      y, x = stack.pop()
                      for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                          ny, nx = y + dy, x + dx
                          if 0 <= ny < r and 0 <= nx < c and g[ny][nx] == "#":
                              g[ny][nx] = "."
                              stack.append((ny, nx))
      print(count)
      """,
      """
      r, c = map(int, input().split())
      g = [list(input().strip()) for _ in range(r)]
      count = 0
      for i in range(r):
          for j in range(c):
              if g[i][j] == "#":
                  count += 1
                  stack = [(i, j)]
                  g[i][j] = "."
                  while stack:
                      y, x = stack.pop()
                      for dy in (-1, 0, 1):
                          for dx in (-1, 0, 1):
                              ny, nx = y + dy, x + dx
                              if 0 <= ny < r and 0 <= nx < c and g[ny][nx] == "#":
                                  g[ny][nx] = "."
                                  stack.append((ny, nx))
      print(count)
      """,
      ["3 3\n#..\n.#.\n..#\n", "1 1\n.\n", "1 1\n#\n", "2 4\n##..\n..##\n",
       "3 5\n#.#.#\n.....\n#####\n", "4 4\n##..\n#...\n..##\n..##\n"])

stdio("number-triangle", "easy",
      """
      Print a number triangle with n rows: row i (i = 1..n) holds the numbers 1 to i
      separated by single spaces.

      Input: one integer n (n >= 1).
      Output: n lines.
      """,
      """
      n = int(input())
      for i in range(1, n + 1):
          print(" ".join(str(k) for k in range(1, i + 1)))
      """,
      """
      n = int(input())
      for i in range(1, n + 1):
          print(" ".join(str(k) for k in range(1, i)))
      """,
      ["1\n", "3\n", "5\n", "2\n", "7\n"])

stdio("title-case-line", "easy",
      """
      Capitalize the first letter of every word in a line, leaving all other characters
      unchanged (do not lower-case the rest of the word).

      Input: one line of words separated by single spaces.
      Output: the line with each word's first character in upper case.
      """,
      """
      print(" ".join(w[:1].upper() + w[1:] for w in input().split(" ")))
      """,
      """
      print(input().title())
      """,
      ["hello world\n", "hELLO\n", "it's a test\n", "abc\n", "mIxEd cAsE\n"])

stdio("sum-multiples-3-5", "easy",
      """
      Print the sum of all natural numbers below n that are multiples of 3 or 5 (each number
      counted once).

      Input: one integer n >= 0.
      Output: the sum.
      """,
      """
      n = int(input())
      print(sum(i for i in range(n) if i % 3 == 0 or i % 5 == 0))
      """,
      """
      n = int(input())
      print(sum(range(0, n, 3)) + sum(range(0, n, 5)))
      """,
      ["10\n", "0\n", "1\n", "16\n", "1000\n"])

stdio("letter-histogram", "easy",
      """
      Count the letters of a line, ignoring case and ignoring every character that is not a
      letter a-z.

      Input: one line of text.
      Output: one line per letter that occurs, in alphabetical order, formatted 'letter
      count' with the letter in lower case.
      """,
      """
      counts = {}
      for ch in input().lower():
          if "a" <= ch <= "z":
              counts[ch] = counts.get(ch, 0) + 1
      for ch in sorted(counts):
          print(ch, counts[ch])
      """,
      """
      counts = {}
      for ch in input():
          if ch.isalpha():
              counts[ch] = counts.get(ch, 0) + 1
      for ch in sorted(counts):
          print(ch, counts[ch])
      """,
      ["hello\n", "Aa Bb!\n", "xyz\n", "Mississippi\n", "a1b2c3 ABC\n"])

stdio("top-scorer", "easy",
      """
      Find the person with the highest score; on a tie print the one listed first.

      Input: the first line holds n (n >= 1); each of the next n lines holds a name and an
      integer score separated by a space.
      Output: the name with the highest score.
      """,
      """
      n = int(input())
      best_name, best_score = None, None
      for _ in range(n):
          name, score = input().split()
          score = int(score)
          if best_score is None or score > best_score:
              best_name, best_score = name, score
      print(best_name)
      """,
      """
      n = int(input())
      best_name, best_score = None, None
      for _ in range(n):
          name, score = input().split()
          score = int(score)
          if best_score is None or score >= best_score:
              best_name, best_score = name, score
      print(best_name)
      """,
      ["3\nann 5\nbob 9\ncid 7\n", "1\nsolo 0\n", "2\namy 4\nben 4\n",
       "3\nx -1\ny -5\nz -1\n", "4\np 1\nq 2\nr 3\ns 3\n"])

stdio("max-subarray-stdio", "medium",
      """
      Print the largest sum of a non-empty contiguous block of numbers.

      Input: one line of integers separated by spaces (at least one; may be negative).
      Output: the maximum subarray sum.
      """,
      """
      nums = list(map(int, input().split()))
      best = cur = nums[0]
      for x in nums[1:]:
          cur = max(x, cur + x)
          best = max(best, cur)
      print(best)
      """,
      """
      nums = list(map(int, input().split()))
      best = cur = 0
      for x in nums:
          cur = max(0, cur + x)
          best = max(best, cur)
      print(best)
      """,
      ["-2 1 -3 4 -1 2 1 -5 4\n", "1\n", "-3\n", "-2 -1 -5\n", "5 4 -1 7 8\n"])

stdio("integer-calculator", "easy",
      """
      Evaluate a single integer operation.

      Input: one line 'a op b' where a and b are integers and op is one of + - * /.
      For '/' use floor division (round towards minus infinity, like Python's //); b is
      never 0 for '/'.
      Output: the integer result.
      """,
      """
      a, op, b = input().split()
      a, b = int(a), int(b)
      if op == "+":
          print(a + b)
      elif op == "-":
          print(a - b)
      elif op == "*":
          print(a * b)
      else:
          print(a // b)
      """,
      """
      a, op, b = input().split()
      a, b = int(a), int(b)
      if op == "+":
          print(a + b)
      elif op == "-":
          print(a - b)
      elif op == "*":
          print(a * b)
      else:
          print(int(a / b))
      """,
      ["3 + 4\n", "10 - 15\n", "6 * 7\n", "7 / 2\n", "-7 / 2\n", "9 / -4\n"])

stdio("distinct-words-nocase", "easy",
      """
      Count the distinct words in a line, treating upper and lower case as the same.

      Input: one line of words separated by spaces.
      Output: the number of distinct words.
      """,
      """
      print(len(set(w.lower() for w in input().split())))
      """,
      """
      print(len(set(input().split())))
      """,
      ["The the THE cat\n", "a b c\n", "one\n", "Go go Stop stop\n", "x X y\n"])

stdio("hollow-square", "easy",
      """
      Print a hollow square of '*' with side n: the first and last rows are all stars; the
      rows in between have a star at both ends and spaces inside.

      Input: one integer n (n >= 2).
      Output: n lines of exactly n characters.
      """,
      """
      n = int(input())
      for i in range(n):
          if i == 0 or i == n - 1:
              print("*" * n)
          else:
              print("*" + " " * (n - 2) + "*")
      """,
      """
      n = int(input())
      print("*" * n)
      for i in range(n - 3):
          print("*" + " " * (n - 2) + "*")
      print("*" * n)
      """,
      ["2\n", "3\n", "4\n", "6\n", "5\n"])

stdio("triangular-sum", "easy",
      """
      Print 1 + 2 + ... + n.

      Input: one integer n >= 0 (up to 10^9).
      Output: the sum.
      """,
      """
      n = int(input())
      print(n * (n + 1) // 2)
      """,
      """
      n = int(input())
      print(n * (n - 1) // 2)
      """,
      ["1\n", "0\n", "10\n", "100\n", "1000000000\n"])

stdio("longest-unique-substring", "medium",
      """
      Print the length of the longest substring without repeating characters.

      Input: one line with a string (no spaces; may be just a newline for the empty string).
      Output: the length.
      """,
      """
      s = input().strip()
      last = {}
      start = best = 0
      for i, ch in enumerate(s):
          if ch in last and last[ch] >= start:
              start = last[ch] + 1
          last[ch] = i
          best = max(best, i - start + 1)
      print(best)
      """,
      """
      s = input().strip()
      last = {}
      start = best = 0
      for i, ch in enumerate(s):
          if ch in last:
              start = last[ch] + 1
          last[ch] = i
          best = max(best, i - start + 1)
      print(best)
      """,
      ["abcabcbb\n", "bbbbb\n", "pwwkew\n", "\n", "abba\n", "tmmzuxt\n", "a\n"])

stdio("median-stdio", "medium",
      """
      Print the median of n integers. For even n the median is the mean of the two middle
      values of the sorted list.

      Input: the first line holds n (n >= 1); the second line holds n integers.
      Output: the median printed with exactly one digit after the decimal point.
      """,
      """
      n = int(input())
      a = sorted(map(int, input().split()))
      if n % 2:
          m = a[n // 2]
      else:
          m = (a[n // 2 - 1] + a[n // 2]) / 2
      print(f"{m:.1f}")
      """,
      """
      n = int(input())
      a = list(map(int, input().split()))
      if n % 2:
          m = a[n // 2]
      else:
          m = (a[n // 2 - 1] + a[n // 2]) / 2
      print(f"{m:.1f}")
      """,
      ["3\n3 1 2\n", "4\n4 1 3 2\n", "1\n7\n", "2\n1 2\n", "5\n9 8 7 1 2\n"])

stdio("binary-addition", "easy",
      """
      Add two binary numbers.

      Input: two lines, each with a binary number (digits 0 and 1, no leading zeros unless
      the number is 0).
      Output: their sum in binary without leading zeros.
      """,
      """
      a = input().strip()
      b = input().strip()
      print(bin(int(a, 2) + int(b, 2))[2:])
      """,
      """
      a = input().strip()[::-1]
      b = input().strip()[::-1]
      out = []
      carry = 0
      for i in range(max(len(a), len(b))):
          x = int(a[i]) if i < len(a) else 0
          y = int(b[i]) if i < len(b) else 0
          s = x + y + carry
          out.append(str(s % 2))
          carry = s // 2
      print("".join(reversed(out)))
      """,
      ["1\n1\n", "0\n0\n", "101\n10\n", "1111\n1\n", "100\n100\n", "10\n1\n"])

stdio("pangram", "easy",
      """
      Decide whether a sentence is a pangram: it contains every letter a-z at least once, in
      upper or lower case.

      Input: one line of text.
      Output: YES or NO.
      """,
      """
      s = input().lower()
      print("YES" if all(ch in s for ch in "abcdefghijklmnopqrstuvwxyz") else "NO")
      """,
      """
      s = input()
      print("YES" if all(ch in s for ch in "abcdefghijklmnopqrstuvwxyz") else "NO")
      """,
      ["The quick brown fox jumps over the lazy dog\n", "hello\n",
       "abcdefghijklmnopqrstuvwxyz\n", "ABCDEFGHIJKLMNOPQRSTUVWXYZ\n",
       "Pack my box with five dozen liquor jugs\n"])

stdio("sum-of-lines", "easy",
      """
      Add up numbers given one per line.

      Input: the first line holds n (n >= 0); each of the next n lines holds one integer.
      Output: the sum of the n integers.
      """,
      """
      n = int(input())
      print(sum(int(input()) for _ in range(n)))
      """,
      """
      n = int(input())
      print(sum(int(input()) for _ in range(n - 1)))
      """,
      ["3\n1\n2\n3\n", "0\n", "1\n-5\n", "4\n10\n20\n30\n40\n", "2\n0\n0\n"])

stdio("count-char-occurrences", "easy",
      """
      Count how many times a given character appears in a line (case-sensitive).

      Input: the first line holds a single character c; the second line holds the text.
      Output: the number of occurrences of c in the text.
      """,
      """
      c = input()[0]
      print(input().count(c))
      """,
      """
      c = input()[0]
      print(input().lower().count(c.lower()))
      """,
      ["a\nbanana\n", "z\nbanana\n", "A\nAaAa\n", "s\nMississippi\n", "x\nx\n"])

stdio("grade-letters", "easy",
      """
      Convert scores to letter grades: 90-100 is A, 80-89 B, 70-79 C, 60-69 D, below 60 F.

      Input: the first line holds n; the next line holds n integer scores (0..100).
      Output: the n grades on one line, separated by spaces.
      """,
      """
      n = int(input())
      out = []
      for s in map(int, input().split()):
          if s >= 90:
              out.append("A")
          elif s >= 80:
              out.append("B")
          elif s >= 70:
              out.append("C")
          elif s >= 60:
              out.append("D")
          else:
              out.append("F")
      print(" ".join(out))
      """,
      """
      n = int(input())
      out = []
      for s in map(int, input().split()):
          if s > 90:
              out.append("A")
          elif s > 80:
              out.append("B")
          elif s > 70:
              out.append("C")
          elif s > 60:
              out.append("D")
          else:
              out.append("F")
      print(" ".join(out))
      """,
      ["3\n95 85 75\n", "1\n90\n", "5\n100 80 70 60 59\n", "2\n0 65\n", "1\n89\n"])

stdio("staircase-ways", "easy",
      """
      Count the ways to climb n steps taking 1 or 2 steps at a time.

      Input: one integer n (1 <= n <= 80).
      Output: the number of distinct ways.
      """,
      """
      n = int(input())
      a, b = 1, 1
      for _ in range(n):
          a, b = b, a + b
      print(a)
      """,
      """
      n = int(input())
      a, b = 1, 1
      for _ in range(n - 1):
          a, b = b, a + b
      print(a)
      """,
      ["1\n", "2\n", "3\n", "5\n", "10\n", "80\n"])

# ---------------------------------------------------------------------------------------------
# assert: the program defines the function; hidden HumanEval-style check(candidate) runs it.
# ---------------------------------------------------------------------------------------------

asserted("is-even", "easy", "def is_even(n: int) -> bool:",
         "Return True if the integer `n` is even (zero and negative numbers included), "
         "otherwise False.",
         """
         def is_even(n):
             return n % 2 == 0
         """,
         """
         def is_even(n):
             return n > 0 and n % 2 == 0
         """,
         [[2], [3], [0], [-4], [-3], [100]])

asserted("max-of-three", "easy", "def max_of_three(a: int, b: int, c: int) -> int:",
         "Return the largest of the three integers `a`, `b` and `c`.",
         """
         def max_of_three(a, b, c):
             m = a
             if b > m:
                 m = b
             if c > m:
                 m = c
             return m
         """,
         """
         def max_of_three(a, b, c):
             if a > b:
                 return a if a > c else c
             return b
         """,
         [[1, 2, 3], [3, 2, 1], [2, 3, 1], [5, 5, 5], [-1, -2, -3], [1, 1, 2], [0, 7, 7]])

asserted("count-char", "easy", "def count_char(s: str, ch: str) -> int:",
         "Return how many times the single character `ch` occurs in `s`. The match is "
         "case-sensitive.",
         """
         def count_char(s, ch):
             return sum(1 for c in s if c == ch)
         """,
         """
         def count_char(s, ch):
             return s.lower().count(ch.lower())
         """,
         [["banana", "a"], ["", "a"], ["AaAa", "A"], ["hello", "z"], ["Mississippi", "s"],
          ["xXx", "x"]])

asserted("reverse-words", "easy", "def reverse_words(s: str) -> str:",
         "Return the words of `s` in reverse order joined by single spaces. Words are "
         "separated by one or more spaces; ignore leading and trailing spaces.",
         """
         def reverse_words(s):
             return " ".join(reversed(s.split()))
         """,
         """
         def reverse_words(s):
             return " ".join(reversed(s.split(" ")))
         """,
         [["hello world"], ["one"], [""], ["a  b"], ["  the sky is blue  "], ["x y z"]])

asserted("sum-even", "easy", "def sum_even(nums: list[int]) -> int:",
         "Return the sum of the even VALUES in `nums` (not the values at even positions).",
         """
         def sum_even(nums):
             return sum(x for x in nums if x % 2 == 0)
         """,
         """
         def sum_even(nums):
             return sum(nums[i] for i in range(0, len(nums), 2))
         """,
         [[[1, 2, 3, 4]], [[]], [[1, 3, 5]], [[2, 4, 6]], [[-2, 3, 0]], [[5, 6, 7, 8, 9]]])

asserted("list-product", "easy", "def product(nums: list[int]) -> int:",
         "Return the product of all numbers in `nums`. The product of an empty list is 1.",
         """
         def product(nums):
             result = 1
             for x in nums:
                 result *= x
             return result
         """,
         """
         from functools import reduce

         def product(nums):
             return reduce(lambda a, b: a * b, nums)
         """,
         [[[1, 2, 3, 4]], [[5]], [[-2, 3]], [[0, 100]], [[]], [[2, 2, 2, 2, 2]]])

asserted("range-of-list", "easy", "def value_range(nums: list[int]) -> int:",
         "Return the difference between the largest and the smallest value of the non-empty "
         "list `nums` (the list is NOT sorted).",
         """
         def value_range(nums):
             return max(nums) - min(nums)
         """,
         """
         def value_range(nums):
             return nums[-1] - nums[0]
         """,
         [[[1, 5, 3]], [[7]], [[3, 1]], [[-5, 10, 0]], [[2, 2, 2]], [[1, 2, 3, 4]]])

asserted("count-upper", "easy", "def count_upper(s: str) -> int:",
         "Return the number of upper-case letters A-Z in `s`.",
         """
         def count_upper(s):
             return sum(1 for c in s if "A" <= c <= "Z")
         """,
         """
         def count_upper(s):
             return sum(1 for c in s if "A" < c < "Z")
         """,
         [["Hello World"], [""], ["ABCXYZ"], ["abc"], ["Zebra And Apple"], ["MiXeD"]])

asserted("triangular-number", "easy", "def triangular(n: int) -> int:",
         "Return the n-th triangular number 1 + 2 + ... + n for n >= 0 (0 for n = 0).",
         """
         def triangular(n):
             return n * (n + 1) // 2
         """,
         """
         def triangular(n):
             return n * (n - 1) // 2
         """,
         [[0], [1], [2], [3], [10], [100]])

asserted("remove-char", "easy", "def remove_char(s: str, ch: str) -> str:",
         "Return `s` with EVERY occurrence of the character `ch` removed.",
         """
         def remove_char(s, ch):
             return "".join(c for c in s if c != ch)
         """,
         """
         def remove_char(s, ch):
             return s.replace(ch, "", 1)
         """,
         [["banana", "a"], ["hello", "z"], ["", "a"], ["aaa", "a"], ["abc", "b"],
          ["mississippi", "s"]])

asserted("acronym", "easy", "def acronym(phrase: str) -> str:",
         "Return the acronym of `phrase`: the first letter of each word in upper case. Words "
         "are separated by spaces or hyphens, e.g. 'Complementary metal-oxide semiconductor' "
         "gives 'CMOS'.",
         """
         def acronym(phrase):
             return "".join(w[0].upper() for w in phrase.replace("-", " ").split())
         """,
         """
         def acronym(phrase):
             return "".join(w[0].upper() for w in phrase.split())
         """,
         [["Portable Network Graphics"], ["Complementary metal-oxide semiconductor"],
          ["as soon as possible"], ["Ruby on Rails"], ["single"], ["first-in first-out"]])

asserted("median", "easy", "def median(nums: list[int]) -> float:",
         "Return the median of the non-empty list `nums` (which is NOT sorted). For an even "
         "number of values return the mean of the two middle values.",
         """
         def median(nums):
             s = sorted(nums)
             n = len(s)
             if n % 2:
                 return s[n // 2]
             return (s[n // 2 - 1] + s[n // 2]) / 2
         """,
         """
         def median(nums):
             n = len(nums)
             if n % 2:
                 return nums[n // 2]
             return (nums[n // 2 - 1] + nums[n // 2]) / 2
         """,
         [[[3, 1, 2]], [[4, 1, 3, 2]], [[5]], [[1, 2]], [[9, 8, 7, 1, 2]], [[1, 2, 3]]])

asserted("mode", "easy", "def mode(nums: list[int]) -> int:",
         "Return the most frequent value of the non-empty list `nums`; on a tie return the "
         "SMALLEST of the tied values.",
         """
         def mode(nums):
             counts = {}
             for x in nums:
                 counts[x] = counts.get(x, 0) + 1
             best = max(counts.values())
             return min(x for x in counts if counts[x] == best)
         """,
         """
         def mode(nums):
             counts = {}
             for x in nums:
                 counts[x] = counts.get(x, 0) + 1
             return max(counts, key=counts.get)
         """,
         [[[1, 2, 2, 3]], [[5]], [[3, 1, 3, 1]], [[7, 7, 2, 2, 9]], [[-1, -1, 0]], [[4, 3]]])

asserted("intersection", "easy", "def intersection(a: list[int], b: list[int]) -> list[int]:",
         "Return the sorted list of DISTINCT values that occur in both `a` and `b`.",
         """
         def intersection(a, b):
             return sorted(set(a) & set(b))
         """,
         """
         def intersection(a, b):
             return sorted(x for x in a if x in b)
         """,
         [[[1, 2, 3], [2, 3, 4]], [[], [1]], [[1, 1, 2], [1, 1]], [[5, 6], [7, 8]],
          [[3, 2, 1], [1, 2, 3]]])

asserted("is-subsequence", "easy", "def is_subsequence(s: str, t: str) -> bool:",
         "Return True if `s` is a subsequence of `t`: the characters of `s` appear in `t` in "
         "the same order, but not necessarily next to each other.",
         """
         def is_subsequence(s, t):
             i = 0
             for c in t:
                 if i < len(s) and s[i] == c:
                     i += 1
             return i == len(s)
         """,
         """
         def is_subsequence(s, t):
             return s in t
         """,
         [["abc", "ahbgdc"], ["axc", "ahbgdc"], ["", "abc"], ["abc", "abc"], ["b", ""],
          ["ace", "abcde"]])

asserted("is-rotation", "easy", "def is_rotation(a: str, b: str) -> bool:",
         "Return True if `b` can be obtained by rotating `a` (moving some prefix of `a` to its "
         "end), e.g. 'erbottlewat' is a rotation of 'waterbottle'. Every string is a rotation "
         "of itself.",
         """
         def is_rotation(a, b):
             return len(a) == len(b) and b in a + a
         """,
         """
         def is_rotation(a, b):
             return b in a + a
         """,
         [["waterbottle", "erbottlewat"], ["abc", "cab"], ["abc", "acb"], ["", ""],
          ["abc", "ab"], ["aa", "a"]])

asserted("pairs-with-sum", "easy", "def count_pairs(nums: list[int], target: int) -> int:",
         "Return the number of index pairs (i, j) with i < j such that nums[i] + nums[j] == "
         "target.",
         """
         def count_pairs(nums, target):
             n = len(nums)
             return sum(1 for i in range(n) for j in range(i + 1, n)
                        if nums[i] + nums[j] == target)
         """,
         """
         def count_pairs(nums, target):
             n = len(nums)
             return sum(1 for i in range(n) for j in range(i, n) if nums[i] + nums[j] == target)
         """,
         [[[1, 2, 3, 4], 5], [[], 0], [[1, 1, 1], 2], [[2, 2], 4], [[3, 4, 5], 100],
          [[0, 0, 0], 0]])

asserted("triangle-type", "easy", "def triangle_type(a: int, b: int, c: int) -> str:",
         "Classify a triangle by its side lengths. Return 'invalid' if the sides cannot form "
         "a triangle (any side <= 0, or the two shorter sides add up to no more than the "
         "longest), otherwise 'equilateral', 'isosceles' or 'scalene'.",
         """
         def triangle_type(a, b, c):
             x, y, z = sorted([a, b, c])
             if x <= 0 or x + y <= z:
                 return "invalid"
             if x == z:
                 return "equilateral"
             if x == y or y == z:
                 return "isosceles"
             return "scalene"
         """,
         """
         def triangle_type(a, b, c):
             x, y, z = sorted([a, b, c])
             if x <= 0 or x + y < z:
                 return "invalid"
             if x == z:
                 return "equilateral"
             if x == y or y == z:
                 return "isosceles"
             return "scalene"
         """,
         [[3, 3, 3], [3, 4, 5], [2, 2, 3], [1, 2, 3], [0, 1, 1], [1, 1, 5], [5, 3, 5]])

asserted("letter-grade", "easy", "def letter_grade(score: int) -> str:",
         "Return the letter grade for an integer score 0..100: 90 and above 'A', 80-89 'B', "
         "70-79 'C', 60-69 'D', below 60 'F'.",
         """
         def letter_grade(score):
             if score >= 90:
                 return "A"
             if score >= 80:
                 return "B"
             if score >= 70:
                 return "C"
             if score >= 60:
                 return "D"
             return "F"
         """,
         """
         def letter_grade(score):
             if score > 90:
                 return "A"
             if score > 80:
                 return "B"
             if score > 70:
                 return "C"
             if score > 60:
                 return "D"
             return "F"
         """,
         [[95], [90], [85], [80], [72], [60], [59], [0]])

asserted("sum-nested", "easy", "def sum_nested(nested: list) -> int:",
         "`nested` holds integers and (arbitrarily deeply) nested lists of integers. Return "
         "the sum of all integers at every depth.",
         """
         def sum_nested(nested):
             total = 0
             for x in nested:
                 total += sum_nested(x) if isinstance(x, list) else x
             return total
         """,
         """
         def sum_nested(nested):
             total = 0
             for x in nested:
                 total += sum(x) if isinstance(x, list) else x
             return total
         """,
         [[[1, [2, 3]]], [[]], [[1, [2, [3, [4]]]]], [[[[]]]], [[5, -5]], [[[1], [2], 3]]])

asserted("nesting-depth", "medium", "def depth(nested: list) -> int:",
         "Return the maximum nesting depth of the list `nested`: a list with no inner lists "
         "(including []) has depth 1, [[1]] has depth 2, and so on.",
         """
         def depth(nested):
             inner = [depth(x) for x in nested if isinstance(x, list)]
             return 1 + (max(inner) if inner else 0)
         """,
         """
         def depth(nested):
             for x in nested:
                 if isinstance(x, list):
                     return 1 + depth(x)
             return 1
         """,
         [[[]], [[1, 2]], [[[1]]], [[1, [2, [3]]]], [[[1], [[2]]]], [[[], [[[]]]]]])

asserted("remove-vowels", "easy", "def remove_vowels(s: str) -> str:",
         "Return `s` without its vowels (a, e, i, o, u in upper or lower case).",
         """
         def remove_vowels(s):
             return "".join(c for c in s if c.lower() not in "aeiou")
         """,
         """
         def remove_vowels(s):
             return "".join(c for c in s if c not in "aeiou")
         """,
         [["hello"], [""], ["AEIOUaeiou"], ["rhythm"], ["Apple Pie"], ["xyz"]])

asserted("dot-product", "easy", "def dot_product(a: list[int], b: list[int]) -> int:",
         "Return the dot product of two vectors of equal length: a[0]*b[0] + a[1]*b[1] + ....",
         """
         def dot_product(a, b):
             return sum(x * y for x, y in zip(a, b))
         """,
         """
         def dot_product(a, b):
             return sum(a[i] * b[i] for i in range(len(a) - 1))
         """,
         [[[1, 2, 3], [4, 5, 6]], [[], []], [[2], [3]], [[1, -1], [1, 1]], [[0, 0, 7], [1, 1, 2]]])

asserted("find-duplicates", "easy", "def find_duplicates(nums: list[int]) -> list[int]:",
         "Return the sorted list of values that occur more than once in `nums`, each value "
         "listed once.",
         """
         def find_duplicates(nums):
             return sorted(x for x in set(nums) if nums.count(x) > 1)
         """,
         """
         def find_duplicates(nums):
             return sorted(x for x in nums if nums.count(x) > 1)
         """,
         [[[1, 2, 2, 3, 3, 3]], [[]], [[1, 2, 3]], [[5, 5]], [[4, 1, 4, 1, 4]]])

asserted("first-unique-char", "easy", "def first_unique_char(s: str) -> str:",
         "Return the first character of `s` that occurs exactly once in `s`, or the empty "
         "string '' if there is none.",
         """
         def first_unique_char(s):
             for c in s:
                 if s.count(c) == 1:
                     return c
             return ""
         """,
         """
         def first_unique_char(s):
             for i, c in enumerate(s):
                 if (i == 0 or s[i - 1] != c) and (i + 1 == len(s) or s[i + 1] != c):
                     return c
             return ""
         """,
         [["leetcode"], ["aabb"], [""], ["abab"], ["aabcb"], ["z"]])

asserted("power-of-two", "easy", "def is_power_of_two(n: int) -> bool:",
         "Return True if the integer `n` is a power of two (1, 2, 4, 8, ...), otherwise False. "
         "Zero and negative numbers are not powers of two.",
         """
         def is_power_of_two(n):
             return n > 0 and (n & (n - 1)) == 0
         """,
         """
         def is_power_of_two(n):
             return n & (n - 1) == 0
         """,
         [[1], [2], [3], [16], [0], [-8], [1024], [12]])

asserted("reverse-integer", "easy", "def reverse_integer(n: int) -> int:",
         "Reverse the decimal digits of the integer `n`, keeping its sign: 123 gives 321, "
         "-123 gives -321 and 1200 gives 21.",
         """
         def reverse_integer(n):
             sign = -1 if n < 0 else 1
             return sign * int(str(abs(n))[::-1])
         """,
         """
         def reverse_integer(n):
             return int(str(abs(n))[::-1])
         """,
         [[123], [-123], [1200], [0], [5], [-90]])

asserted("count-set-bits", "easy", "def count_bits(n: int) -> int:",
         "Return the number of 1 bits in the binary representation of the integer n >= 0.",
         """
         def count_bits(n):
             return bin(n).count("1")
         """,
         """
         def count_bits(n):
             count = 0
             while n > 1:
                 count += n & 1
                 n >>= 1
             return count
         """,
         [[0], [1], [7], [8], [255], [1023], [6]])

asserted("sum-of-primes", "easy", "def sum_of_primes(n: int) -> int:",
         "Return the sum of all primes p with p <= n (0 if there are none).",
         """
         def sum_of_primes(n):
             return sum(p for p in range(2, n + 1)
                        if all(p % d for d in range(2, int(p ** 0.5) + 1)))
         """,
         """
         def sum_of_primes(n):
             return sum(p for p in range(2, n) if all(p % d for d in range(2, int(p ** 0.5) + 1)))
         """,
         [[10], [1], [2], [11], [0], [100]])

asserted("nth-prime", "easy", "def nth_prime(n: int) -> int:",
         "Return the n-th prime number, counting from nth_prime(1) = 2.",
         """
         def nth_prime(n):
             count = 0
             k = 1
             while count < n:
                 k += 1
                 if all(k % d for d in range(2, int(k ** 0.5) + 1)):
                     count += 1
             return k
         """,
         """
         def nth_prime(n):
             count = 0
             k = 1
             while count <= n:
                 k += 1
                 if all(k % d for d in range(2, int(k ** 0.5) + 1)):
                     count += 1
             return k
         """,
         [[1], [2], [3], [6], [10], [100]])

asserted("matrix-trace", "easy", "def trace(m: list[list[int]]) -> int:",
         "Return the sum of the main diagonal m[0][0] + m[1][1] + ... of the square matrix "
         "`m`.",
         """
         def trace(m):
             return sum(m[i][i] for i in range(len(m)))
         """,
         """
         def trace(m):
             return sum(m[i][len(m) - 1 - i] for i in range(len(m)))
         """,
         [[[[1, 2], [3, 4]]], [[[5]]], [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]],
          [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], [[[0, 9], [9, 0]]]])

asserted("rotate-matrix", "medium", "def rotate_clockwise(m: list[list[int]]) -> list[list[int]]:",
         "Return a new matrix equal to the square matrix `m` rotated 90 degrees clockwise "
         "([[1, 2], [3, 4]] becomes [[3, 1], [4, 2]]).",
         """
         def rotate_clockwise(m):
             n = len(m)
             return [[m[n - 1 - r][c] for r in range(n)] for c in range(n)]
         """,
         """
         def rotate_clockwise(m):
             n = len(m)
             return [[m[r][n - 1 - c] for r in range(n)] for c in range(n)]
         """,
         [[[[1, 2], [3, 4]]], [[[1]]], [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]],
          [[[1, 1], [1, 1]]], [[[0, 1], [2, 3]]]])

asserted("top-k-words", "medium", "def top_k_words(text: str, k: int) -> list[str]:",
         "Return the `k` most frequent words of `text` (split on whitespace), most frequent "
         "first; words with equal counts are ordered alphabetically. If there are fewer than "
         "k distinct words return them all.",
         """
         def top_k_words(text, k):
             counts = {}
             for w in text.split():
                 counts[w] = counts.get(w, 0) + 1
             return sorted(counts, key=lambda w: (-counts[w], w))[:k]
         """,
         """
         def top_k_words(text, k):
             counts = {}
             for w in text.split():
                 counts[w] = counts.get(w, 0) + 1
             return sorted(counts, key=lambda w: -counts[w])[:k]
         """,
         [["a b a c b a", 2], ["x", 3], ["", 1], ["the cat the dog the cat", 1],
          ["b a c", 2], ["z y z y x", 3]])

asserted("squeeze-spaces", "easy", "def squeeze_spaces(s: str) -> str:",
         "Return `s` with every run of spaces replaced by a single space and with leading and "
         "trailing spaces removed.",
         """
         def squeeze_spaces(s):
             return " ".join(w for w in s.split(" ") if w)
         """,
         """
         def squeeze_spaces(s):
             out = []
             for c in s:
                 if c != " " or not out or out[-1] != " ":
                     out.append(c)
             return "".join(out)
         """,
         [["a  b   c"], ["  lead"], ["trail  "], [""], ["   "], ["one"]])

asserted("lcs-length", "medium", "def lcs_length(a: str, b: str) -> int:",
         "Return the length of the longest common SUBSEQUENCE of `a` and `b` (characters in "
         "the same order, not necessarily contiguous).",
         """
         def lcs_length(a, b):
             dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
             for i in range(1, len(a) + 1):
                 for j in range(1, len(b) + 1):
                     if a[i - 1] == b[j - 1]:
                         dp[i][j] = dp[i - 1][j - 1] + 1
                     else:
                         dp[i][j] = max(dp[i - 1][j], dp[i][j - 1])
             return dp[len(a)][len(b)]
         """,
         """
         def lcs_length(a, b):
             best = 0
             dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
             for i in range(1, len(a) + 1):
                 for j in range(1, len(b) + 1):
                     if a[i - 1] == b[j - 1]:
                         dp[i][j] = dp[i - 1][j - 1] + 1
                         best = max(best, dp[i][j])
             return best
         """,
         [["abcde", "ace"], ["abc", "abc"], ["abc", "def"], ["", "abc"], ["AGGTAB", "GXTXAYB"],
          ["ab", "ba"]])

asserted("edit-distance", "medium", "def edit_distance(a: str, b: str) -> int:",
         "Return the Levenshtein distance between `a` and `b`: the minimum number of "
         "single-character insertions, deletions and substitutions that turn `a` into `b`.",
         """
         def edit_distance(a, b):
             prev = list(range(len(b) + 1))
             for i in range(1, len(a) + 1):
                 cur = [i] + [0] * len(b)
                 for j in range(1, len(b) + 1):
                     cost = 0 if a[i - 1] == b[j - 1] else 1
                     cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                 prev = cur
             return prev[len(b)]
         """,
         """
         def edit_distance(a, b):
             prev = list(range(len(b) + 1))
             for i in range(1, len(a) + 1):
                 cur = [i] + [0] * len(b)
                 for j in range(1, len(b) + 1):
                     if a[i - 1] == b[j - 1]:
                         cur[j] = prev[j - 1]
                     else:
                         cur[j] = min(prev[j] + 1, cur[j - 1] + 1)
                 prev = cur
             return prev[len(b)]
         """,
         [["kitten", "sitting"], ["", "abc"], ["abc", ""], ["same", "same"], ["a", "b"],
          ["horse", "ros"]])

asserted("coin-change-min", "medium", "def min_coins(coins: list[int], amount: int) -> int:",
         "Return the fewest coins needed to make `amount` using unlimited coins of the given "
         "positive denominations, or -1 if it is impossible. min_coins(coins, 0) is 0.",
         """
         def min_coins(coins, amount):
             inf = float("inf")
             dp = [0] + [inf] * amount
             for a in range(1, amount + 1):
                 for c in coins:
                     if c <= a and dp[a - c] + 1 < dp[a]:
                         dp[a] = dp[a - c] + 1
             return -1 if dp[amount] == inf else dp[amount]
         """,
         """
         def min_coins(coins, amount):
             count = 0
             for c in sorted(coins, reverse=True):
                 count += amount // c
                 amount %= c
             return count if amount == 0 else -1
         """,
         [[[1, 2, 5], 11], [[2], 3], [[1], 0], [[1, 3, 4], 6], [[5, 10], 3], [[1, 5, 6, 9], 11]])

asserted("coin-change-ways", "medium", "def count_ways(coins: list[int], amount: int) -> int:",
         "Return the number of different COMBINATIONS (order does not matter) of coins from "
         "`coins` (distinct positive values, unlimited supply) that add up to `amount`. There "
         "is exactly 1 way to make 0.",
         """
         def count_ways(coins, amount):
             ways = [1] + [0] * amount
             for c in coins:
                 for a in range(c, amount + 1):
                     ways[a] += ways[a - c]
             return ways[amount]
         """,
         """
         def count_ways(coins, amount):
             ways = [1] + [0] * amount
             for a in range(1, amount + 1):
                 for c in coins:
                     if c <= a:
                         ways[a] += ways[a - c]
             return ways[amount]
         """,
         [[[1, 2, 5], 5], [[2], 3], [[10], 10], [[1, 2], 0], [[1, 2, 3], 4], [[3, 5], 7]])

asserted("lis-length", "medium", "def lis_length(nums: list[int]) -> int:",
         "Return the length of the longest STRICTLY increasing subsequence of `nums` (not "
         "necessarily contiguous).",
         """
         def lis_length(nums):
             best = [1] * len(nums)
             for i in range(len(nums)):
                 for j in range(i):
                     if nums[j] < nums[i]:
                         best[i] = max(best[i], best[j] + 1)
             return max(best, default=0)
         """,
         """
         def lis_length(nums):
             best = [1] * len(nums)
             for i in range(len(nums)):
                 for j in range(i):
                     if nums[j] <= nums[i]:
                         best[i] = max(best[i], best[j] + 1)
             return max(best, default=0)
         """,
         [[[10, 9, 2, 5, 3, 7, 101, 18]], [[]], [[7, 7, 7]], [[1, 2, 3]], [[3, 2, 1]],
          [[0, 1, 0, 3, 2, 3]]])

asserted("sort-people", "easy", "def sort_people(people: list[list]) -> list[list]:",
         "`people` is a list of [name, age] pairs. Return them sorted by age ascending; "
         "people of the same age are sorted by name alphabetically.",
         """
         def sort_people(people):
             return sorted(people, key=lambda p: (p[1], p[0]))
         """,
         """
         def sort_people(people):
             return sorted(people, key=lambda p: p[1])
         """,
         [[[["bob", 30], ["amy", 25]]], [[]], [[["zed", 20], ["amy", 20]]],
          [[["c", 3], ["b", 1], ["a", 3]]], [[["solo", 50]]]])

asserted("parse-key-values", "easy", "def parse_kv(s: str) -> dict[str, int]:",
         "Parse a string like 'a=1;b=22;c=-3' into a dict mapping each key to its INTEGER "
         "value. The empty string gives an empty dict.",
         """
         def parse_kv(s):
             out = {}
             for part in s.split(";"):
                 if part:
                     k, v = part.split("=")
                     out[k] = int(v)
             return out
         """,
         """
         def parse_kv(s):
             out = {}
             for part in s.split(";"):
                 if part:
                     k, v = part.split("=")
                     out[k] = v
             return out
         """,
         [["a=1;b=22;c=-3"], [""], ["x=0"], ["k=5;k=6"], ["long_key=123"]])

asserted("words-starting-with", "easy", "def count_starting_with(text: str, letter: str) -> int:",
         "Return how many words of `text` (split on whitespace) start with `letter`, ignoring "
         "upper/lower case.",
         """
         def count_starting_with(text, letter):
             return sum(1 for w in text.split() if w[0].lower() == letter.lower())
         """,
         """
         def count_starting_with(text, letter):
             return sum(1 for w in text.split() if w[0] == letter)
         """,
         [["Apples and apricots are awesome", "a"], ["", "x"], ["Big blue Box", "b"],
          ["none here", "z"], ["Zoo zebra", "Z"]])

asserted("min-add-parentheses", "medium", "def min_add_to_balance(s: str) -> int:",
         "`s` contains only '(' and ')'. Return the minimum number of parentheses that must "
         "be inserted (anywhere) to make it balanced.",
         """
         def min_add_to_balance(s):
             open_count = added = 0
             for c in s:
                 if c == "(":
                     open_count += 1
                 elif open_count:
                     open_count -= 1
                 else:
                     added += 1
             return added + open_count
         """,
         """
         def min_add_to_balance(s):
             return abs(s.count("(") - s.count(")"))
         """,
         [["())"], ["((("], [""], ["()"], [")("], ["()))(("]])

asserted("catalan", "easy", "def catalan(n: int) -> int:",
         "Return the n-th Catalan number C(n) for n >= 0: C(0) = 1 and C(n+1) = sum over "
         "i = 0..n of C(i) * C(n - i). The sequence starts 1, 1, 2, 5, 14, 42.",
         """
         def catalan(n):
             c = [1] + [0] * n
             for m in range(1, n + 1):
                 c[m] = sum(c[i] * c[m - 1 - i] for i in range(m))
             return c[n]
         """,
         """
         def catalan(n):
             c = [1] + [0] * (n + 1)
             for m in range(1, n + 2):
                 c[m] = sum(c[i] * c[m - 1 - i] for i in range(m))
             return c[n + 1]
         """,
         [[0], [1], [2], [3], [5], [10]])

asserted("string-compress", "easy", "def compress(s: str) -> str:",
         "Compress `s` by replacing each run of equal characters with the character and the "
         "run length ('aabcccccaaa' becomes 'a2b1c5a3'). If the result is not strictly "
         "shorter than `s`, return `s` unchanged.",
         """
         def compress(s):
             out = []
             i = 0
             while i < len(s):
                 j = i
                 while j < len(s) and s[j] == s[i]:
                     j += 1
                 out.append(s[i] + str(j - i))
                 i = j
             r = "".join(out)
             return r if len(r) < len(s) else s
         """,
         """
         def compress(s):
             out = []
             i = 0
             while i < len(s):
                 j = i
                 while j < len(s) and s[j] == s[i]:
                     j += 1
                 out.append(s[i] + str(j - i))
                 i = j
             return "".join(out)
         """,
         [["aabcccccaaa"], ["abc"], [""], ["aaaa"], ["aabb"], ["zzzzzzzzzzzzb"]])

asserted("to-base", "easy", "def to_base(n: int, base: int) -> str:",
         "Return the representation of the integer n >= 0 in `base` (2 <= base <= 16) using "
         "digits 0-9 and upper-case A-F, without leading zeros; to_base(0, b) is '0'.",
         """
         def to_base(n, base):
             digits = "0123456789ABCDEF"
             if n == 0:
                 return "0"
             out = ""
             while n:
                 out = digits[n % base] + out
                 n //= base
             return out
         """,
         """
         def to_base(n, base):
             digits = "0123456789ABCDEF"
             out = ""
             while n:
                 out = digits[n % base] + out
                 n //= base
             return out
         """,
         [[10, 2], [255, 16], [0, 8], [7, 8], [100, 10], [4095, 16], [1, 2]])

asserted("is-anagram-phrase", "easy", "def is_anagram_phrase(a: str, b: str) -> bool:",
         "Return True if the phrases `a` and `b` are anagrams when spaces are ignored and "
         "upper and lower case are treated as equal ('Dormitory' and 'dirty room').",
         """
         def is_anagram_phrase(a, b):
             def norm(s):
                 return sorted(s.replace(" ", "").lower())
             return norm(a) == norm(b)
         """,
         """
         def is_anagram_phrase(a, b):
             return sorted(a.lower()) == sorted(b.lower())
         """,
         [["Dormitory", "dirty room"], ["listen", "silent"], ["abc", "abd"], ["", ""],
          ["A gentleman", "Elegant man"], ["ab", "a b c"]])

asserted("clamp", "easy", "def clamp(x: int, lo: int, hi: int) -> int:",
         "Return `x` limited to the interval [lo, hi] (lo <= hi): lo if x < lo, hi if x > hi, "
         "otherwise x.",
         """
         def clamp(x, lo, hi):
             return max(lo, min(x, hi))
         """,
         """
         def clamp(x, lo, hi):
             if x < lo:
                 return lo
             if x > hi:
                 return hi - 1
             return x
         """,
         [[5, 0, 10], [-5, 0, 10], [15, 0, 10], [0, 0, 0], [10, 0, 10], [3, 3, 7]])

asserted("safe-divide", "easy", "def safe_divide(a: int, b: int):",
         "Return the floor division a // b, or None when `b` is 0.",
         """
         def safe_divide(a, b):
             if b == 0:
                 return None
             return a // b
         """,
         """
         def safe_divide(a, b):
             if b == 0:
                 return 0
             return a // b
         """,
         [[7, 2], [7, 0], [-7, 2], [0, 5], [10, -3], [0, 0]])

asserted("vowel-words", "easy", "def words_starting_with_vowel(s: str) -> list[str]:",
         "Return the words of `s` (split on whitespace) that start with a vowel (a, e, i, o, "
         "u, any case), in their original order.",
         """
         def words_starting_with_vowel(s):
             return [w for w in s.split() if w[0].lower() in "aeiou"]
         """,
         """
         def words_starting_with_vowel(s):
             return [w for w in s.split() if w[0] in "aeiou"]
         """,
         [["an apple is on the table"], [""], ["Eat Icecream Often"], ["bcd xyz"],
          ["under Over"]])

asserted("euler-totient", "medium", "def phi(n: int) -> int:",
         "Return Euler's totient phi(n) for n >= 1: how many integers k with 1 <= k <= n have "
         "gcd(k, n) = 1. phi(1) = 1.",
         """
         def phi(n):
             result = n
             p = 2
             m = n
             while p * p <= m:
                 if m % p == 0:
                     while m % p == 0:
                         m //= p
                     result -= result // p
                 p += 1
             if m > 1:
                 result -= result // m
             return result
         """,
         """
         def phi(n):
             from math import gcd
             return sum(1 for k in range(1, n) if gcd(k, n) == 1)
         """,
         [[1], [2], [9], [10], [36], [97], [100]])

asserted("running-max", "easy", "def running_max(nums: list[int]) -> list[int]:",
         "Return a list where element i is the maximum of nums[0..i].",
         """
         def running_max(nums):
             out = []
             for x in nums:
                 out.append(x if not out or x > out[-1] else out[-1])
             return out
         """,
         """
         def running_max(nums):
             out = []
             best = 0
             for x in nums:
                 best = max(best, x)
                 out.append(best)
             return out
         """,
         [[[1, 3, 2, 5]], [[]], [[-3, -1, -2]], [[5, 4, 3]], [[2, 2, 2]]])

asserted("split-even-odd", "easy", "def split_even_odd(nums: list[int]) -> list[list[int]]:",
         "Return [evens, odds]: the even numbers of `nums` and the odd numbers of `nums`, each "
         "in their original order.",
         """
         def split_even_odd(nums):
             return [[x for x in nums if x % 2 == 0], [x for x in nums if x % 2 != 0]]
         """,
         """
         def split_even_odd(nums):
             return [[x for x in nums if x % 2 == 0], [x for x in nums if x % 2 == 1 and x > 0]]
         """,
         [[[1, 2, 3, 4]], [[]], [[-1, -2, -3]], [[0]], [[7, 5, 3]]])
