/* The single error table: project error → close code, HTTP status, wire name. */
#include "core/err.h"

#include <stddef.h>

typedef struct {
    int err;
    uint16_t close_code;
    int http_status;
    const char *name;
} err_row_t;

static const err_row_t rows[] = {
    {WSH_EPROTO, 1002, 400, "protocol_error"},
    {WSH_EUTF8, 1007, 400, "invalid_utf8"},
    {WSH_ETOOBIG, 1009, 413, "too_large"},
    {WSH_EUNSUPPORTED, 1003, 415, "unsupported_data"},
    {WSH_EPOLICY, 1008, 400, "policy_violation"},
    {WSH_EINTERNAL, 1011, 500, "internal_error"},
    {WSH_EOVERLOAD, 1013, 503, "overloaded"},
    {WSH_EUNAUTH, 4001, 401, "unauthorized"},
    {WSH_ESLOW, 4008, 503, "slow_consumer"},
    {WSH_ERATE, 4029, 429, "rate_limited"},
    {WSH_EHEADTOOBIG, 1009, 431, "headers_too_large"},
    {WSH_ETIMEOUT, 1001, 408, "timeout"},
    {WSH_EBADREQ, 1002, 400, "bad_request"},
    {WSH_ENOTFOUND, 1002, 404, "not_found"},
    {WSH_EMETHOD, 1002, 405, "method_not_allowed"},
    {WSH_EVERSION, 1002, 426, "upgrade_required"},
    {WSH_ENOMEM, 1009, 413, "too_large"},
    {WSH_EFORBIDDEN, 1008, 403, "forbidden"},
    {WSH_ESHUTDOWN, 1001, 503, "shutting_down"},
    {WSH_EPAYLOAD, 1007, 400, "invalid_payload"},
};

static const err_row_t *find(int err)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].err == err)
            return &rows[i];
    return NULL;
}

uint16_t wsh_err_close_code(int err)
{
    const err_row_t *r = find(err);
    return r ? r->close_code : 1011;
}

int wsh_err_http_status(int err)
{
    const err_row_t *r = find(err);
    return r ? r->http_status : 500;
}

const char *wsh_err_name(int err)
{
    const err_row_t *r = find(err);
    return r ? r->name : "internal_error";
}

const char *wsh_http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
