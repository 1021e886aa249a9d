/*
Copyright 2026 The authops Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package authserver

import (
	"errors"

	"github.com/authops/authops/authserver/store"
)

// unavailable tells whether err means the store cannot be reached right now
// (the database restarts, the network drops, a connection was closed under
// us, a query timed out), so the request may succeed when retried: such
// requests get 503 temporarily_unavailable instead of 500 server_error. The
// store decides which of its failures these are (store.ErrUnavailable); the
// HTTP layer never looks at a driver's errors.
func unavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }
