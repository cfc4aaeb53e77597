"""The Flask side: routes, cookie, CSRF, CORS, headers and error pages."""
