# cmake -DSRC=<header> -DDST=<copy> -DLIST=<public_headers.txt> -P rewrite_public_header.cmake
#
# Copies one public header into the installed layout: every
# #include "<path>" of a header listed in LIST (other than the ringraft/
# ones, already there) becomes #include "ringraft/<path>", so that the copy
# resolves with only the directory above ringraft/ on the include path.
file(STRINGS ${LIST} _entries REGEX "^[^#]")
file(READ ${SRC} _text)
foreach(_e IN LISTS _entries)
  string(STRIP "${_e}" _e)
  if(_e STREQUAL "" OR _e MATCHES "^ringraft/")
    continue()
  endif()
  string(REPLACE "#include \"${_e}\"" "#include \"ringraft/${_e}\"" _text "${_text}")
endforeach()
file(WRITE ${DST} "${_text}")
